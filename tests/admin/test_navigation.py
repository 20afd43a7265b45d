"""One admin sub-navigation on every admin page; a success notice shows once, not again on reload."""

from __future__ import annotations

import re

from starlette.routing import Route

from tests.factories import make_person
from tests.helpers import log_in_admin, post_form

PAGES = [
    "/admin",
    "/admin/members",
    "/admin/members/import",
    "/admin/ambassadors",
    "/admin/ambassadors/review",
    "/admin/ambassadors/numbers",
    "/admin/ambassadors/appoint",
    "/admin/ambassadors/report",
    "/admin/newsletters",
    "/admin/newsletters/new",
    "/admin/interests",
    "/admin/welcome",
    "/admin/mail/queue",
    "/admin/mailbox",
    "/admin/admins",
    "/admin/audit",
    "/admin/events",
    "/admin/events/new",
    "/admin/security",
]


async def test_every_admin_page_has_the_sub_navigation_once(app, client, db):
    await log_in_admin(client, db)
    listed = {
        item.path
        for item in app.routes
        if isinstance(item, Route)
        and "GET" in (item.methods or ())
        and getattr(item.endpoint, "role", None) == "admin"
        and "{" not in item.path
        and not item.path.endswith((".json", ".csv", ".svg", ".png", "/export"))
    }
    assert listed <= set(PAGES), f"admin pages this test does not open: {sorted(listed - set(PAGES))}"
    for path in PAGES:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert page.text.count('id="admin-subnav"') == 1, path
        current = re.findall(r'<a href="([^"]+)" aria-current="page"', page.text)
        assert current and path.startswith(current[0]), (path, current)


async def test_visitors_and_members_see_no_admin_navigation(client, db):
    assert 'id="admin-subnav"' not in (await client.get("/admin/login")).text
    member = await make_person(db)
    from tests.factories import log_in

    await log_in(client, db, member)
    assert 'id="admin-subnav"' not in (await client.get("/me")).text


async def test_a_notice_shows_once_and_not_again_on_reload(client, db):
    await log_in_admin(client, db)
    member = await make_person(db, name="Once")
    url = f"/admin/members/{member.id}"
    response = await post_form(client, f"{url}/suppress", {"reason": "bounces"}, page=url)
    assert response.status_code == 303 and response.headers["location"] == url
    first = await client.get(url)
    assert "No more mail will be sent to this member." in first.text
    again = await client.get(url)
    assert "No more mail will be sent to this member." not in again.text
