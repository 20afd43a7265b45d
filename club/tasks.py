"""Periodic housekeeping that runs beside the mail sender (in the server process, or in `server.py worker`).

Each job is idempotent, takes the sessionmaker and the settings and opens its own transactions (`in_transaction`
wraps a job that needs just one); on PostgreSQL an advisory lock makes sure that only one process runs a given
job at a time when several workers are up.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from club.config import Settings
from club.db import is_postgres, transaction

log = logging.getLogger("club.tasks")
JobFunction = Callable[[async_sessionmaker[AsyncSession], Settings], Awaitable[object]]


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: JobFunction


def in_transaction(work: Callable[[AsyncSession, Settings], Awaitable[object]]) -> JobFunction:
    """A job made of one unit of work: committed when it succeeds, rolled back when it raises."""

    async def job(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        async with transaction(sessionmaker) as db:
            await work(db, settings)

    return job


@in_transaction
async def purge_expired_tokens(db: AsyncSession, settings: Settings) -> None:
    from club.accounts import tokens

    await tokens.purge_expired(db)


@in_transaction
async def forget_stale_counters_and_logins(db: AsyncSession, settings: Settings) -> None:
    """Rate-limit counters hold IP addresses and address hashes, logins an address and a browser: neither is
    kept past the time it serves."""
    from club import ratelimit
    from club.accounts import sessions

    await ratelimit.purge_stale(db)
    await sessions.purge_expired(db)


def jobs() -> list[Job]:
    """Every feature's housekeeping. A new feature with jobs adds its module here (imported inside: those modules
    import `Job` from this one)."""
    from club.admin import tasks as admin
    from club.ambassadors import tasks as ambassadors
    from club.events import tasks as events
    from club.mail import tasks as mail
    from club.members import tasks as members
    from club.newsletters import tasks as newsletters

    return [
        Job("purge expired tokens", 3600, purge_expired_tokens),
        Job("forget stale rate counters and logins", 600, forget_stale_counters_and_logins),
        *mail.JOBS,
        *members.JOBS,
        *ambassadors.JOBS,
        *newsletters.JOBS,
        *admin.JOBS,
        *events.JOBS,
    ]


async def run_job_once(job: Job, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> bool:
    """Run one job; False when another process is running it right now (PostgreSQL)."""
    async with sessionmaker() as lock_session:
        if not is_postgres(lock_session):
            await job.run(sessionmaker, settings)
            return True
        key = zlib.crc32(job.name.encode()) & 0x7FFFFFFF
        locked = (await lock_session.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
        if not locked:
            return False
        try:
            await job.run(sessionmaker, settings)
        finally:
            await lock_session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            await lock_session.commit()
    return True


async def run_forever(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, tick: float = 5.0) -> None:
    schedule = {job.name: 0.0 for job in jobs()}
    loop = asyncio.get_running_loop()
    while True:
        for job in jobs():
            if loop.time() < schedule.get(job.name, 0.0):
                continue
            try:
                await run_job_once(job, sessionmaker, settings)
            except Exception:
                log.exception("housekeeping job %r failed; it runs again later", job.name)
            schedule[job.name] = loop.time() + job.every_seconds
        await asyncio.sleep(tick)
