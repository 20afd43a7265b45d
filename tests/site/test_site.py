import pytest

from tests.factories import csrf_token


async def test_healthz_answers_ok(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_readyz_answers_when_database_answers(client):
    response = await client.get("/readyz")
    assert response.status_code == 200


async def test_readyz_fails_when_database_is_gone(app, client):
    await app.state.engine.dispose()
    from club.db import create_engine

    app.state.engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    response = await client.get("/readyz")
    assert response.status_code == 503


@pytest.mark.parametrize(
    ("accept", "lang", "phrase"),
    [("nl-BE,nl;q=0.9", "nl", "zustersteden"), ("ja,en;q=0.5", "ja", "姉妹都市"), ("fr", "en", "twin cities")],
)
async def test_home_page_speaks_the_browser_language(client, accept, lang, phrase):
    response = await client.get("/", headers={"accept-language": accept})
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in response.text
    assert phrase in response.text


async def test_saved_language_beats_accept_language(client):
    token = await csrf_token(client)
    response = await client.post("/language", data={"language": "ja", "next": "/", "csrf_token": token})
    assert response.status_code == 303
    page = await client.get("/", headers={"accept-language": "nl"})
    assert '<html lang="ja">' in page.text


async def test_language_switch_never_redirects_off_site(client):
    token = await csrf_token(client)
    response = await client.post("/language", data={"language": "nl", "next": "//evil.example/", "csrf_token": token})
    assert response.headers["location"] == "/"


async def test_security_headers_on_every_page(client):
    for path in ("/", "/healthz", "/no-such-page", "/admin/login"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"]
        assert "strict-transport-security" not in response.headers  # development


async def test_friendly_404_in_the_visitor_language(client):
    response = await client.get("/nowhere", headers={"accept-language": "ja"})
    assert response.status_code == 404
    assert "ページが見つかりません" in response.text
    assert "Traceback" not in response.text


async def test_post_without_csrf_token_is_refused(client):
    await client.get("/")
    response = await client.post("/language", data={"language": "nl", "next": "/"})
    assert response.status_code == 403
    response = await client.post("/language", data={"language": "nl", "csrf_token": "forged" * 10})
    assert response.status_code == 403


async def test_huge_body_gets_413(client):
    token = await csrf_token(client)
    response = await client.post("/language", data={"language": "nl", "csrf_token": token, "pad": "x" * 2_000_000})
    assert response.status_code == 413
    assert "too large" in response.text.lower()
    response = await client.post(
        "/language", data={"csrf_token": token, "pad": "x" * 2_000_000}, headers={"accept-language": "ja"}
    )
    assert response.status_code == 413
    assert "大きすぎます" in response.text


async def test_streamed_body_over_the_limit_gets_413(client):
    token = await csrf_token(client)

    async def chunks():
        yield f"csrf_token={token}&pad=".encode()
        for _ in range(40):
            yield b"x" * 65536

    response = await client.post(
        "/language", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


async def test_static_assets_are_local(client):
    page = (await client.get("/")).text
    assert "http://" not in page.replace("http://testserver", "").replace("http://www.w3.org", "")
    assert "https://" not in page


async def test_error_page_still_knows_who_is_logged_in(client, db):
    from tests.factories import log_in, make_admin

    admin = await make_admin(db)
    await log_in(client, db, admin)
    response = await client.get("/setup/" + "x" * 43)  # a route that raises 404 after loading the session
    assert response.status_code == 404
    assert "Log out" in response.text


async def test_cached_home_page_gives_each_visitor_their_own_csrf_token(app):
    import httpx

    from tests.factories import CSRF_RE

    tokens = set()
    for _ in range(2):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as visitor:
            page = await visitor.get("/")
            token = CSRF_RE.search(page.text).group(1)
            tokens.add(token)
            # the token works for this visitor's own cookie
            response = await visitor.post("/language", data={"language": "ja", "csrf_token": token})
            assert response.status_code == 303
            assert '<html lang="ja">' in (await visitor.get("/")).text
    assert len(tokens) == 2


async def test_logged_in_home_page_is_not_shared(client, db):
    from tests.factories import log_in, make_person

    await client.get("/")  # fills the anonymous cache
    person = await make_person(db, name="Hanako")
    await log_in(client, db, person)
    assert "Log out" in (await client.get("/")).text


async def test_home_page_for_visitors_opens_no_database_session(app, client):
    """Once rendered, the home page is kept: the next visitors get it without a database session."""
    assert (await client.get("/")).status_code == 200

    class Refusing:
        def __call__(self):  # noqa: D102
            raise AssertionError("the home page opened a database session for a visitor")

    real = app.state.sessionmaker
    app.state.sessionmaker = Refusing()
    try:
        assert (await client.get("/")).status_code == 200
    finally:
        app.state.sessionmaker = real
