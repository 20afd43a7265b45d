import datetime as dt

from club import ratelimit
from club.db import utcnow
from club.ratelimit import RateCounter


async def test_counts_within_the_window_and_starts_again_after_it(db):
    window = dt.timedelta(minutes=1)
    assert [await ratelimit.hit(db, "k", window) for _ in range(3)] == [1, 2, 3]
    await db.commit()
    assert await ratelimit.count(db, "k", window) == 3
    row = await db.get(RateCounter, "k")
    row.window_start = utcnow() - dt.timedelta(minutes=2)
    await db.commit()
    assert await ratelimit.count(db, "k", window) == 0
    assert await ratelimit.hit(db, "k", window) == 1
    assert await ratelimit.hit(db, "other", window) == 1


# ---- refusing before the database, client addresses, trusted proxies -------------------------------------------

import httpx  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import select  # noqa: E402

from club.app import create_app  # noqa: E402
from club.config import ConfigError, Settings  # noqa: E402
from club.members import routes as member_routes  # noqa: E402


def client_at(app, host: str, **headers) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def login_request(client: httpx.AsyncClient, n: int, **headers) -> httpx.Response:
    if "club_csrf" not in client.cookies:
        await client.get("/login")
    page = await client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return await client.post("/login", data={"email": f"visitor{n}@example.org", "csrf_token": token}, headers=headers)


async def counters(db) -> dict[str, int]:
    db.expire_all()
    rows = (await db.execute(select(RateCounter.key, RateCounter.count))).all()
    await db.commit()
    return {key: count for key, count in rows}


async def test_a_refused_request_does_not_write_to_the_database(app, db):
    async with client_at(app, "192.0.2.10") as client:
        statuses = [(await login_request(client, n)).status_code for n in range(member_routes.IP_LIMIT + 1)]
        assert statuses[-1] == 429 and 429 not in statuses[:-1]
        before = await counters(db)
        for n in range(5):
            assert (await login_request(client, 100 + n)).status_code == 429
        assert await counters(db) == before  # not one more count, not one more row


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(app, db):
    # By default nobody is trusted: a local process cannot pose as many clients to reset its limit.
    async with client_at(app, "127.0.0.1") as client:
        statuses = [
            (await login_request(client, n, **{"X-Forwarded-For": f"198.51.100.{n}"})).status_code
            for n in range(member_routes.IP_LIMIT + 1)
        ]
    assert statuses[-1] == 429
    assert not any("198.51.100." in key for key in await counters(db))


async def test_a_trusted_proxy_names_the_client(settings, engine, db):
    app = create_app(settings.with_(trusted_proxies=("10.0.0.0/8",)), engine=engine)
    async with app.router.lifespan_context(app), client_at(app, "10.1.2.3") as proxy:
        for n in range(member_routes.IP_LIMIT + 1):
            last = await login_request(proxy, n, **{"X-Forwarded-For": "203.0.113.50, 10.9.9.9"})
        assert last.status_code == 429  # the client behind the proxy (not the proxy's own hop) is limited
        other = await login_request(proxy, 99, **{"X-Forwarded-For": "203.0.113.51"})
        assert other.status_code == 303  # another client behind the same proxy is not
    keys = await counters(db)
    assert any(key.endswith(":ip:203.0.113.50") for key in keys)
    assert not any("10.1.2.3" in key or "10.9.9.9" in key for key in keys)


async def test_ipv6_clients_are_counted_by_their_64(app, db):
    hosts = ["2001:db8:1:2::1", "2001:db8:1:2:aaaa::7"]
    statuses = []
    for n in range(member_routes.IP_LIMIT + 1):
        async with client_at(app, hosts[n % 2]) as client:
            statuses.append((await login_request(client, n)).status_code)
    assert statuses[-1] == 429
    async with client_at(app, "2001:db8:1:3::1") as neighbour:  # the next /64 is someone else
        assert (await login_request(neighbour, 500)).status_code == 303
    assert "members-login:ip:2001:db8:1:2::/64" in await counters(db)


def test_trusted_proxies_setting(tmp_path):
    def settings(**values):
        return Settings.from_env({"CLUB_VAR_DIR": str(tmp_path), **values}, dotenv=tmp_path / "none")

    assert settings(CLUB_TRUSTED_PROXIES="10.0.0.5, 2001:db8::/32").trusted_proxies == ("10.0.0.5/32", "2001:db8::/32")
    assert settings().trusted_proxies == ()
    with pytest.raises(ConfigError, match="CLUB_TRUSTED_PROXIES"):
        settings(CLUB_TRUSTED_PROXIES="proxy.example.org")
