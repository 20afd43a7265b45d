"""Rate-limit counters name IP addresses and address hashes, logins an address and a browser: the housekeeping
job that runs beside the sender forgets them once their window (or the login) is over, and keeps the live ones."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import select, update

from club import ratelimit, tasks
from club.accounts.models import AuthSession
from club.db import create_sessionmaker, utcnow
from club.members.service import address_key
from club.ratelimit import RateCounter
from tests.factories import csrf_token, log_in, make_person


def client_from(app: object, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def ask_for_a_link(app: object, ip: str, email: str) -> None:
    async with client_from(app, ip) as browser:
        token = await csrf_token(browser, "/login")
        response = await browser.post("/login", data={"csrf_token": token, "email": email})
        assert response.status_code == 303


async def test_counters_past_their_window_and_expired_logins_are_forgotten(app, client, db, engine, settings):
    member = await make_person(db, email="jan@example.be")
    await ask_for_a_link(app, "198.51.100.1", "jan@example.be")  # yesterday's visitor
    await ask_for_a_link(app, "198.51.100.2", "an@example.be")  # a visitor of a minute ago
    keys = set((await db.execute(select(RateCounter.key))).scalars())
    old_keys = {key for key in keys if "198.51.100.1" in key or address_key("jan@example.be") in key}
    assert len(old_keys) == 2 and len(keys) == 4
    # Time passes for the first visitor's counters: their windows started longer ago than any limit looks back.
    await db.execute(
        update(RateCounter)
        .where(RateCounter.key.in_(old_keys))
        .values(window_start=utcnow() - ratelimit.LONGEST_WINDOW - dt.timedelta(seconds=1))
    )
    await log_in(client, db, member)
    await log_in(client, db, member)
    await db.execute(
        update(AuthSession)
        .where(AuthSession.id == (await db.execute(select(AuthSession.id).limit(1))).scalar_one())
        .values(expires_at=utcnow() - dt.timedelta(minutes=1))
    )
    await db.commit()

    job = next(job for job in tasks.jobs() if job.name == "forget stale rate counters and logins")
    assert job.every_seconds <= 3600
    assert await tasks.run_job_once(job, create_sessionmaker(engine), settings)

    db.expire_all()
    remaining = set((await db.execute(select(RateCounter.key))).scalars())
    assert remaining == keys - old_keys
    assert len((await db.execute(select(AuthSession))).scalars().all()) == 1
    # The limits still hold for the visitor of a minute ago.
    assert await ratelimit.count(db, f"members-mail:address:{address_key('an@example.be')}", dt.timedelta(hours=1)) == 1
