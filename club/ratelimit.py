"""Fixed-window rate limits kept in the database, so they hold across several web processes.

A key that went over its limit is also remembered in this process until its window ends: a refused request is
then answered without touching the database, so a client flooding a form cannot slow everyone else down.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
import weakref
from typing import TYPE_CHECKING

from sqlalchemy import String, Table, case, delete, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from club.db import Base, is_postgres, utcnow
from club.requestinfo import client_ip

if TYPE_CHECKING:  # the model is imported by migrations and scripts that need no web framework
    from starlette.requests import Request

KEY_LENGTH = 200
BLOCKED_KEYS_KEPT = 50_000


class RateCounter(Base):
    """A fixed-window counter shared by every web process through the database."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[dt.datetime]
    count: Mapped[int] = mapped_column(default=0)


# Per database (engine): key -> time.monotonic() when its window ends.
_blocked: weakref.WeakKeyDictionary[Engine, dict[str, float]] = weakref.WeakKeyDictionary()


def _blocked_until(db: AsyncSession) -> dict[str, float]:
    engine = db.get_bind()
    assert isinstance(engine, Engine)
    return _blocked.setdefault(engine, {})


def client_key(request: Request) -> str:
    """The address limits count by: the client's address (requestinfo.client_ip); an IPv6 client by its /64, the
    block one household or phone usually has."""
    host = client_ip(request)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def blocked(db: AsyncSession, key: str) -> bool:
    """True while key is over its limit, as learnt by this process; asks no database."""
    key = key[:KEY_LENGTH]
    blocks = _blocked_until(db)
    until = blocks.get(key)
    if until is None:
        return False
    if until <= time.monotonic():
        blocks.pop(key, None)
        return False
    return True


def _block(db: AsyncSession, key: str, window_start: dt.datetime, window: dt.timedelta) -> None:
    remaining = (window_start + window - utcnow()).total_seconds()
    if remaining <= 0:
        return
    blocks = _blocked_until(db)
    if len(blocks) >= BLOCKED_KEYS_KEPT:
        now = time.monotonic()
        for stale in [k for k, until in blocks.items() if until <= now]:
            del blocks[stale]
        if len(blocks) >= BLOCKED_KEYS_KEPT:
            return  # the database still refuses; this process just asks it
    blocks[key[:KEY_LENGTH]] = time.monotonic() + remaining


async def hit(db: AsyncSession, key: str, window: dt.timedelta, *, limit: int | None = None) -> int:
    """Count one event for key in the current window and return the count so far (this one included), in one
    atomic statement, so parallel requests each get their own number.

    With a limit: once the count is over it, the key is blocked in this process for the rest of the window and
    later calls return limit + 1 without touching the database."""
    key = key[:KEY_LENGTH]
    if limit is not None and blocked(db, key):
        return limit + 1
    now = utcnow()
    stale = now - window
    insert = pg_insert if is_postgres(db) else sqlite_insert
    table = RateCounter.__table__
    assert isinstance(table, Table)
    in_window = table.c.window_start > literal(stale, type_=table.c.window_start.type)
    statement = (
        insert(table)
        .values(key=key, window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((in_window, table.c.count + 1), else_=1),
                "window_start": case((in_window, table.c.window_start), else_=now),
            },
        )
        .returning(table.c.count, table.c.window_start)
    )
    count, window_start = (await db.execute(statement)).one()
    if limit is not None and count > limit:
        _block(db, key, window_start if window_start.tzinfo else window_start.replace(tzinfo=dt.UTC), window)
    return int(count)


async def count(db: AsyncSession, key: str, window: dt.timedelta) -> int:
    row = (await db.execute(select(RateCounter).where(RateCounter.key == key[:KEY_LENGTH]))).scalar_one_or_none()
    if row is None or row.window_start <= utcnow() - window:
        return 0
    return row.count


async def reset(db: AsyncSession, key: str) -> None:
    key = key[:KEY_LENGTH]
    _blocked_until(db).pop(key, None)
    row = await db.get(RateCounter, key)
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


async def forget(db: AsyncSession, *, containing: tuple[str, ...] = (), ending: tuple[str, ...] = ()) -> None:
    """Drop the counters whose keys name someone (an erased member's address, hashed or as typed, or id)."""
    conditions = [RateCounter.key.contains(part, autoescape=True) for part in containing]
    conditions += [RateCounter.key.endswith(part, autoescape=True) for part in ending]
    if conditions:
        await db.execute(delete(RateCounter).where(or_(*conditions)))
