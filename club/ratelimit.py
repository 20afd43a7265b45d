"""Fixed-window rate limits kept in the database, so they hold across several web processes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Table, case, delete, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import RateCounter
from club.db import is_postgres, utcnow


async def hit(db: AsyncSession, key: str, window: dt.timedelta) -> int:
    """Count one event for key in the current window and return the count so far (this one included)."""
    now = utcnow()
    stale = now - window
    insert = pg_insert if is_postgres(db) else sqlite_insert
    table = RateCounter.__table__
    assert isinstance(table, Table)
    in_window = table.c.window_start > literal(stale, type_=table.c.window_start.type)
    statement = (
        insert(table)
        .values(key=key[:200], window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((in_window, table.c.count + 1), else_=1),
                "window_start": case((in_window, table.c.window_start), else_=now),
            },
        )
        .returning(table.c.count)
    )
    return int((await db.execute(statement)).scalar_one())


async def count(db: AsyncSession, key: str, window: dt.timedelta) -> int:
    row = (await db.execute(select(RateCounter).where(RateCounter.key == key[:200]))).scalar_one_or_none()
    if row is None or row.window_start <= utcnow() - window:
        return 0
    return row.count


async def reset(db: AsyncSession, key: str) -> None:
    row = await db.get(RateCounter, key[:200])
    if row is not None:
        await db.delete(row)


# The longest window any limit uses (an address's sign-ups and login links: one hour). A counter older than this
# counts nothing for anyone, yet names an IP address or an address's hash: the housekeeping job deletes it.
LONGEST_WINDOW = dt.timedelta(hours=1)


async def purge_stale(db: AsyncSession, *, now: dt.datetime | None = None) -> int:
    """Delete the counters whose window has passed for every limit; returns how many."""
    cutoff = (now or utcnow()) - LONGEST_WINDOW
    result = await db.execute(delete(RateCounter).where(RateCounter.window_start <= cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
