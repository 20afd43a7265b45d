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


def test_every_features_housekeeping_module_is_registered() -> None:
    """jobs() lists the features' modules by name: a feature that adds a tasks.py must be added there too."""
    import importlib
    from pathlib import Path

    import club

    registered = {job.name for job in tasks.jobs()}
    modules = sorted(Path(club.__file__).parent.glob("*/tasks.py"))
    assert modules
    for path in modules:
        module = importlib.import_module(f"club.{path.parent.name}.tasks")
        assert {job.name for job in module.JOBS} <= registered, path
