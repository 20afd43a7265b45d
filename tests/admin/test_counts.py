"""Counts say the real number, with thousands separators, "10,000+" where the count stops, and the dashboard and
the member list agree; the list pages forward and back and says where it is."""

from __future__ import annotations

import re

from tests.factories import add_members, make_ambassador, make_person
from tests.helpers import log_in_admin


def count_text(html: str) -> str:
    return re.search(r'<p role="status" id="result-count">([^<]*)</p>', html).group(1)


async def test_a_count_past_the_cap_says_10000_plus_and_the_whole_club_is_counted_exactly(client, db):
    await log_in_admin(client, db)
    await add_members(db, [{"email": f"k{index}@example.jp", "city": "kanazawa"} for index in range(10_050)])
    capped = await client.get("/admin/members", params={"city": "kanazawa"})
    assert count_text(capped.text) == "10,000+ members found"
    everyone = await client.get("/admin/members")
    assert count_text(everyone.text) == "10,051 members found"
    dashboard = await client.get("/admin")
    assert re.search(r'id="member-count"><a href="/admin/members">10,051</a>', dashboard.text)


async def test_counts_in_the_admins_language(client, db):
    admin = await log_in_admin(client, db)
    admin.language = "nl"
    await db.commit()
    await add_members(db, [{"email": f"g{index}@example.be"} for index in range(1_200)])
    page = await client.get("/admin/members")
    assert count_text(page.text) == "1.201 leden gevonden"
    one = await client.get("/admin/members", params={"q": "admin@example.org"})
    assert count_text(one.text) == "1 lid gevonden"


async def test_the_dashboard_and_the_list_agree(client, db):
    await log_in_admin(client, db)
    await make_person(db, email="m1@example.org")
    await make_person(db, email="m2@example.org")
    await make_ambassador(db, email="amb@example.org")
    listed = count_text((await client.get("/admin/members")).text)
    shown = re.search(r'id="member-count"><a href="/admin/members">([^<]*)</a>', (await client.get("/admin")).text)
    assert listed == f"{shown.group(1)} members found" == "4 members found"


def names(html: str) -> list[str]:
    return re.findall(r'<tr><td><a href="/admin/members/\d+">([^<]+)</a>', html)


async def test_the_member_list_pages_forward_and_back_with_its_position(client, db):
    await log_in_admin(client, db)
    await add_members(db, [{"name": f"Lid {index:03d}", "email": f"l{index}@example.org"} for index in range(120)])
    first = await client.get("/admin/members", params={"sort": "name"})
    assert "1–50 of 121" in first.text and 'rel="prev"' not in first.text
    second_url = re.search(r'<a href="([^"]+)" rel="next">', first.text).group(1).replace("&amp;", "&")
    second = await client.get(second_url)
    assert "51–100 of 121" in second.text
    third = await client.get(re.search(r'<a href="([^"]+)" rel="next">', second.text).group(1).replace("&amp;", "&"))
    assert "101–121 of 121" in third.text and 'rel="next"' not in third.text
    back = await client.get(re.search(r'<a href="([^"]+)" rel="prev">', third.text).group(1).replace("&amp;", "&"))
    assert "51–100 of 121" in back.text and names(back.text) == names(second.text)
    start = await client.get(re.search(r'<a href="([^"]+)" rel="prev">', back.text).group(1).replace("&amp;", "&"))
    assert names(start.text) == names(first.text) and "1–50 of 121" in start.text
