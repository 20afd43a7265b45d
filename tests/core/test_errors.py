import httpx
import pytest

from club.app import create_app
from club.web import route
from tests.helpers import SECRET


async def boom(request, ctx):
    raise RuntimeError("secret internals")


async def test_unhandled_error_gets_a_friendly_500_without_a_trace(app, caplog):
    app.router.routes.insert(0, route("/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/boom", headers={"accept-language": "nl"})
    assert response.status_code == 500
    assert "Er ging bij ons iets mis" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert any("GET /boom" in record.getMessage() for record in caplog.records)  # logged with context


@pytest.fixture
async def production_client(settings, engine):
    production = settings.with_(
        env="production", base_url="https://club.example.org", secret_key=SECRET, smtp_host="smtp.example.org"
    )
    application = create_app(production, engine=engine)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="https://club.example.org") as client:
            yield client


async def test_production_sends_hsts_and_host_prefixed_secure_cookies(production_client):
    response = await production_client.get("/")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-club_csrf=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie


async def test_production_has_no_dev_mailbox(production_client):
    assert (await production_client.get("/admin/mailbox")).status_code in (303, 404)
