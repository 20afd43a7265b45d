"""An id in a URL that no row can have is a 404, on every route of the app that takes one."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from tests.helpers import log_in_admin

HUGE = "99999999999999999999"
PARAM = re.compile(r"\{([a-z_]+)(:[a-z]+)?\}")


def routes_with_ids(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = []
    for item in app.routes:
        if not isinstance(item, Route):
            continue
        params = PARAM.findall(item.path)
        if not any(convertor == ":int" or name == "id" or name.endswith("_id") for name, convertor in params):
            continue
        path = PARAM.sub(lambda m: HUGE if m.group(2) == ":int" or m.group(1).endswith("_id") else "x", item.path)
        for method in sorted(item.methods or ()):
            if method != "HEAD":
                found.append((method, path))
    return found


async def test_the_member_page_with_a_huge_id_is_not_found(client, db):
    await log_in_admin(client, db)
    response = await client.get(f"/admin/members/{HUGE}")
    assert response.status_code == 404
    assert "Page not found" in response.text


async def test_every_route_with_an_id_answers_404_to_a_huge_one(app, client, db):
    await log_in_admin(client, db)
    walked = routes_with_ids(app)
    assert len(walked) > 20  # the walk really covers the app
    wrong = []
    for method, path in walked:
        response = await client.request(method, path)
        if response.status_code != 404:
            wrong.append((method, path, response.status_code))
    assert not wrong


@pytest.mark.parametrize(
    "path", ["/admin/members/0", "/admin/members/2147483647", "/admin/interests/2147483648/delete"]
)
async def test_ids_at_the_edges(client, db, path):
    await log_in_admin(client, db)
    response = await client.request("POST" if path.endswith("delete") else "GET", path)
    assert response.status_code == 404
