import datetime as dt

from sqlalchemy import select

from club import tasks
from club.accounts import tokens
from club.accounts.models import OneTimeToken
from club.db import create_sessionmaker, utcnow


async def test_housekeeping_purges_long_expired_tokens(engine, settings, db):
    old = await tokens.issue(db, "login", dt.timedelta(minutes=10))
    fresh = await tokens.issue(db, "login", dt.timedelta(minutes=10))
    row = await db.get(OneTimeToken, tokens.token_hash(old))
    row.expires_at = utcnow() - dt.timedelta(days=8)
    await db.commit()
    job = next(job for job in tasks.jobs() if job.name == "purge expired tokens")
    assert await tasks.run_job_once(job, create_sessionmaker(engine), settings)
    remaining = (await db.execute(select(OneTimeToken.id).execution_options(populate_existing=True))).scalars().all()
    assert remaining == [tokens.token_hash(fresh)]
