"""route() hands each handler a typed Context and checks CSRF on every route that changes state, without the
handler asking; csrf=False is the one way out (RFC 8058 one-click unsubscribe)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.responses import PlainTextResponse, Response

from club.web import Context, route
from tests.factories import csrf_token, log_in, make_person

calls: list[Context] = []


async def remember(request, ctx: Context) -> Response:
    calls.append(ctx)
    return PlainTextResponse(f"seen {ctx.form.get('word', '')}")


async def test_a_new_post_route_without_any_csrf_code_is_protected(app, client):
    calls.clear()
    app.router.routes.insert(0, route("/test/new-post", remember, methods=["POST"]))
    await client.get("/")  # the browser has its CSRF cookie
    missing = await client.post("/test/new-post", data={"word": "hello"})
    forged = await client.post("/test/new-post", data={"word": "hello", "csrf_token": "0" * 64})
    assert (missing.status_code, forged.status_code) == (403, 403)
    assert "expired" in missing.text
    assert calls == []  # the handler never ran
    token = await csrf_token(client, "/")
    accepted = await client.post("/test/new-post", data={"word": "hello", "csrf_token": token})
    assert accepted.status_code == 200 and accepted.text == "seen hello"
    assert len(calls) == 1


async def test_csrf_false_lets_a_post_in_without_a_token(app, client):
    calls.clear()
    app.router.routes.insert(0, route("/test/one-click", remember, methods=["POST"], csrf=False))
    response = await client.post("/test/one-click", data={"word": "hi"})
    assert response.status_code == 200 and response.text == "seen "  # the form is the handler's to read
    assert len(calls) == 1


async def test_the_context_carries_the_person_settings_and_client(app, client, db):
    calls.clear()
    app.router.routes.insert(0, route("/test/who", remember, role="member"))
    person = await make_person(db, email="ctx@example.org", language="nl")
    await log_in(client, db, person)
    response = await client.get("/test/who")
    assert response.status_code == 200
    ctx = calls[-1]
    assert ctx.person is not None and ctx.me.id == person.id and ctx.person.email == "ctx@example.org"
    assert ctx.settings is app.state.settings
    assert ctx.client_ip == "203.0.113.7"  # the test client's address
    assert ctx.auth_session is not None and ctx.auth_session.person_id == person.id
    assert len(ctx.form) == 0


async def test_an_int_id_beyond_any_row_is_a_404_before_the_handler(app, client):
    calls.clear()
    app.router.routes.insert(0, route("/test/things/{thing_id:int}", remember))
    assert (await client.get("/test/things/2147483647")).status_code == 200
    assert (await client.get("/test/things/2147483648")).status_code == 404
    assert len(calls) == 1


def test_handlers_read_the_context_not_request_state():
    club = Path(__file__).resolve().parents[2] / "club"
    files = [*club.glob("*/routes.py"), club / "ambassadors" / "admin_routes.py", club / "admin" / "account.py"]
    found = [
        f"{path.name}:{n}"
        for path in files
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"request\.state\b", line)
    ]
    assert len(files) >= 9 and found == []


def test_route_names_are_unique_so_urls_built_from_them_are_right(app):
    from collections import Counter

    from starlette.routing import Route

    names = Counter(item.name for item in app.routes if isinstance(item, Route))
    assert len(names) > 50 and [name for name, count in names.items() if count > 1] == []
