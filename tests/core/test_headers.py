"""Headers on every answer: security headers on every error page (the 500 too), no-store on everything personal,
and Vary on what changes with the language."""

import httpx
import pytest
from starlette.routing import Route

from club.app import create_app
from club.members import routes as member_routes
from club.web import route
from tests.factories import csrf_token, log_in, make_admin, make_ambassador, make_person
from tests.helpers import SECRET

BASE = "https://club.example.org"
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "strict-transport-security")


async def boom(request, ctx):
    raise RuntimeError("secret internals")


@pytest.fixture
async def production_app(settings, engine):
    production = settings.with_(
        env="production", base_url=BASE, secret_key=SECRET, smtp_host="smtp.example.org", max_body_bytes=1000
    )
    application = create_app(production, engine=engine)
    application.router.routes.insert(0, route("/boom", boom))
    async with application.router.lifespan_context(application):
        yield application


async def error_responses(app) -> dict[int, httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        token = await csrf_token(client, "/login")
        answers = {
            400: await client.post("/login", data={"csrf_token": token, "email": "not an address"}),
            403: await client.post("/login", data={"email": "a@example.org"}),  # no form token
            404: await client.get("/no/such/page"),
            405: await client.delete("/login"),
            413: await client.post(
                "/login", content=b"x" * 5000, headers={"content-type": "application/x-www-form-urlencoded"}
            ),
            500: await client.get("/boom"),
        }
        for n in range(member_routes.IP_LIMIT + 1):
            answers[429] = await client.post("/login", data={"csrf_token": token, "email": f"v{n}@example.org"})
    return answers


async def test_every_error_page_carries_the_security_headers(production_app):
    answers = await error_responses(production_app)
    for status, response in answers.items():
        assert response.status_code == status, (status, response.status_code)
        missing = [name for name in SECURITY_HEADERS if name not in response.headers]
        assert not missing, f"{status} lacks {missing}"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
    assert "secret internals" not in answers[500].text


async def test_the_feed_says_it_varies_with_the_language(client):
    english = await client.get("/ambassadors/feed.atom", headers={"accept-language": "en"})
    dutch = await client.get("/ambassadors/feed.atom", headers={"accept-language": "nl"})
    assert english.text != dutch.text  # it does change with the language ...
    for response in (english, dutch):
        assert response.headers["cache-control"] == "public, max-age=300"  # ... and stays cacheable ...
        vary = {part.strip().lower() for part in response.headers["vary"].split(",")}
        assert {"cookie", "accept-language"} <= vary  # ... by language only


def get_routes(app) -> list[str]:
    paths = []
    for item in app.routes:
        if isinstance(item, Route) and "GET" in (item.methods or ()) and "{" not in item.path:
            paths.append(item.path)
    return sorted(set(paths))


async def test_every_page_of_a_logged_in_person_is_no_store(app, client, db):
    admin = await make_admin(db)
    await log_in(client, db, admin)
    paths = get_routes(app)
    assert "/admin" in paths and "/me" in paths and "/activities" in paths
    for path in paths:
        response = await client.get(path)
        assert response.headers.get("cache-control") == "no-store" or not response.headers.get(
            "content-type", ""
        ).startswith(("text/html", "application/json")), path
        if path.startswith(("/admin", "/me")) or response.headers.get("content-type", "").startswith("text/html"):
            assert "no-store" in response.headers.get("cache-control", ""), path


async def test_back_after_log_out_does_not_show_the_profile(client, db):
    member = await make_person(db, name="Hanako Yamada")
    await log_in(client, db, member)
    profile = await client.get("/me")
    assert profile.status_code == 200 and "Hanako Yamada" in profile.text
    assert profile.headers["cache-control"] == "no-store"  # the browser keeps no copy to go back to
    token = await csrf_token(client, "/me")
    assert (await client.post("/logout", data={"csrf_token": token})).status_code == 303
    again = await client.get("/me")
    assert again.status_code == 303 and "Hanako Yamada" not in again.text


async def test_ambassador_pages_are_no_store(client, db):
    person, _appointment = await make_ambassador(db)
    await log_in(client, db, person)
    for path in ("/activities", "/activities/new", "/me", "/me/ambassador", "/", "/ambassadors"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path


async def test_pages_with_a_form_token_are_no_store_for_visitors_too(client):
    for path in ("/", "/join", "/login", "/admin/login", "/ambassadors"):
        response = await client.get(path)
        assert 'name="csrf_token"' in response.text
        assert response.headers["cache-control"] == "no-store", path
