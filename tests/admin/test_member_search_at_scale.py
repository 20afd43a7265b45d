"""The member list with enough members that searches go through the index (and, on SQLite, past DENSE_MATCHES
through the sort-order walk): it finds what a plain substring test finds, in the same order, with the same count;
the kept member count follows joins and erasure."""

from __future__ import annotations

import re
from html import unescape

import pytest

from club.admin.search import DENSE_MATCHES
from tests.factories import add_members
from tests.helpers import log_in_admin, post_form

NAMES = ["山田 花子", "Jan Van den Bossche", "山田 花子", "Hanako Yamada", "Els Peeters", "山田 花子", "田中 太郎"]
DOMAINS = ["gent.be", "example.jp", "mail.example.org"]
CITIES = ["ghent", "kanazawa", "elsewhere"]
LANGUAGES = ["nl", "ja", "en"]
COUNT = 3 * DENSE_MATCHES  # "山田 花" and "example" match more than DENSE_MATCHES of them


def member(index: int) -> dict[str, str]:
    name = NAMES[index % len(NAMES)]
    local = "yamada" if "山田" in name else name.split()[0].lower()
    return {
        "name": name,
        "email": f"{local}.{index}@{DOMAINS[index % len(DOMAINS)]}",
        "city": CITIES[index % len(CITIES)],
        "language": LANGUAGES[index % 2],
    }


ROWS = [member(index) for index in range(COUNT)]  # add_members makes each one a second older than the one before
ROW = re.compile(r'<a href="/admin/members/\d+">([^<]+)</a>.*?<td data-label="[^"]*">([^<]+)</td>')


def matching(params: dict[str, str]) -> list[tuple[str, str]]:
    """(name, address) of the members a plain substring test finds, newest first."""
    needle = params["q"].lower()
    return [
        (row["name"], row["email"])
        for row in ROWS
        if (needle in row["name"].lower() or needle in row["email"])
        and all(row[key] == params[key] for key in ("city", "language") if key in params)
    ]


def shown(html: str) -> list[tuple[str, str]]:
    return [(unescape(name), unescape(email)) for name, email in ROW.findall(html)]


@pytest.fixture
async def many(client, db):
    await log_in_admin(client, db, email="boss@club.test")
    await add_members(db, ROWS)


@pytest.mark.parametrize(
    "params",
    [
        {"q": "山田"},  # two characters: no trigram, a scan
        {"q": "山田 花"},  # the trigram index, more than DENSE_MATCHES members
        {"q": "yamada"},  # names and addresses, any case
        {"q": "YAMADA.1"},
        {"q": "gent.be"},  # part of the address
        {"q": "EXAMPLE"},  # more than DENSE_MATCHES members
        {"q": "an"},
        {"q": "山田", "city": "kanazawa", "language": "ja"},  # search and filters combine
        {"q": "gent.be", "city": "ghent"},
        {"q": "peeters", "language": "nl", "sort": "oldest"},
        {"q": "nobody-is-called-this"},
    ],
)
async def test_searches_find_what_a_substring_test_finds_in_the_same_order(client, many, params):
    expected = matching(params)
    if params.get("sort") == "oldest":
        expected.reverse()
    response = await client.get("/admin/members", params=params)
    assert response.status_code == 200
    assert shown(response.text) == expected[:50]
    count = re.search(r'id="result-count">([^<]*)<', response.text).group(1)
    assert count == f"{len(expected):,} member{'' if len(expected) == 1 else 's'} found"


async def test_every_page_of_a_combined_search_once_and_in_order(client, many):
    expected = matching({"q": "yamada", "city": "kanazawa"})
    seen: list[tuple[str, str]] = []
    url: str | None = "/admin/members?q=yamada&city=kanazawa"
    while url:
        response = await client.get(url)
        seen.extend(shown(response.text))
        link = re.search(r'<a href="([^"]+)" rel="next">', response.text)
        url = link.group(1).replace("&amp;", "&") if link else None
    assert seen == expected and len(expected) > 100


async def test_the_kept_count_follows_joins_and_erasure(client, db, many):
    def count_of(html: str) -> str:
        return re.search(r'id="result-count">([^<]*)<', html).group(1)

    assert count_of((await client.get("/admin/members")).text) == f"{COUNT + 1:,} members found"
    await add_members(db, [{"name": "Nieuw Lid", "email": "nieuw@lid.be"}])
    page = await client.get("/admin/members", params={"q": "nieuw@lid"})
    assert shown(page.text) == [("Nieuw Lid", "nieuw@lid.be")]
    member_id = re.search(r'<a href="/admin/members/(\d+)">Nieuw Lid<', page.text).group(1)
    assert count_of((await client.get("/admin/members")).text) == f"{COUNT + 2:,} members found"
    response = await post_form(
        client, f"/admin/members/{member_id}/delete", {"confirm_email": "nieuw@lid.be"}, page="/admin/members"
    )
    assert response.status_code == 303
    assert shown((await client.get("/admin/members", params={"q": "nieuw@lid"})).text) == []
    assert count_of((await client.get("/admin/members")).text) == f"{COUNT + 1:,} members found"
