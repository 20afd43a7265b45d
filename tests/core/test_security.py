"""Every state-changing route checks a CSRF token; GET never changes state on the routes we can see."""

import re

from starlette.routing import Route

# Routes that must accept a POST without a session or token (RFC 8058 one-click unsubscribe from mail clients).
CSRF_EXEMPT = {"/unsubscribe/{token}"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x" * 43, path)


async def test_every_post_route_refuses_a_missing_csrf_token(app, client):
    await client.get("/")  # the browser has its CSRF cookie, only the token in the form is missing
    checked = 0
    for route in app.routes:
        if not isinstance(route, Route) or "POST" not in (route.methods or set()):
            continue
        if route.path in CSRF_EXEMPT:
            continue
        response = await client.post(concrete(route.path), data={"anything": "1"})
        assert response.status_code in (403, 303, 404), (route.path, response.status_code)
        if response.status_code == 303:  # guarded: a visitor is sent to log in before anything happens
            assert "login" in response.headers["location"], route.path
        checked += 1
    assert checked >= 3


async def test_forged_csrf_token_is_refused(client):
    await client.get("/")
    response = await client.post("/language", data={"language": "nl", "csrf_token": "0" * 64})
    assert response.status_code == 403
    assert "expired" in response.text


async def test_csrf_cookie_is_httponly_and_lax(client):
    response = await client.get("/")
    cookie = response.headers["set-cookie"]
    assert "club_csrf=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
