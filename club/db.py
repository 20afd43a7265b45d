"""The database: Base, engine and session factories, the per-request session, dialect differences."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import DateTime, TypeDecorator
from sqlalchemy.util.concurrency import await_

from club import sqlite

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which keeps no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def exported(record: object, names: str) -> dict[str, Any]:
    """A record's attributes for a data export, in the order named ("joined_at=created_at" renames one); dates and
    moments as ISO 8601."""
    values = {key: getattr(record, name or key) for key, _eq, name in (n.partition("=") for n in names.split())}
    return {key: value.isoformat() if isinstance(value, dt.date) else value for key, value in values.items()}


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        # A web process serves more than 5 requests at once, and an overflow connection is closed when it is returned:
        # a new thread and the schema read again at every request above 5. The DBAPI: club.sqlite, one hop a statement.
        kwargs.setdefault("pool_size", 20)
        engine = create_async_engine(database_url, connect_args={"timeout": 30}, module=sqlite.DBAPI(), **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # At most 20 connections a process, as before, but 16 of them kept: an overflow connection is closed when it is
    # returned, and 16 clients at once opened and closed one (TLS attempt, a new server process) every few requests.
    kwargs.setdefault("pool_size", 16)
    kwargs.setdefault("max_overflow", 4)
    engine = create_async_engine(database_url, **kwargs)
    event.listen(engine.sync_engine, "checkin", _checked_in)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    return engine


# A restarted PostgreSQL leaves the pool's connections dead: one that has waited in the pool a while is checked
# before use, in one round trip. SQLAlchemy's pool_pre_ping checks every checkout, in three (BEGIN, an empty query,
# ROLLBACK, for pgbouncer); under load a connection is back in use within milliseconds, and those round trips cost
# a tenth of the admin member list's rate. A connection that dies between two uses fails its one request, and
# SQLAlchemy then replaces every connection older than that error, as after a failed check.
PING_IDLE_SECONDS = 1.0


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if time.monotonic() - record.info.get("checked_in", 0.0) <= PING_IDLE_SECONDS:
        return
    try:
        await_(dbapi_connection.driver_connection.execute("SELECT 1"))
    except Exception as error:
        raise DisconnectionError() from error  # the pool drops it and takes another


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def is_postgres(bind: AsyncSession | AsyncEngine | Engine) -> bool:
    if isinstance(bind, AsyncSession):
        bind_engine = bind.get_bind()
        return bind_engine.dialect.name == "postgresql"
    return bind.dialect.name == "postgresql"


# ---- garbage collection at safe points ----------------------------------------------------------------------------

# Python 3.11 starts a cyclic garbage collection inside whatever allocation crosses the threshold: in the middle of
# C code of the sqlite3 module, greenlet or SQLAlchemy's extensions, in the event loop's thread or in an aiosqlite
# worker thread. Under a crowd on SQLite (several connections, each with its worker thread) that corrupted memory
# and the process died with a segmentation fault (issue 12, item 1: bench/wall_crash.py). Serialising the worker
# threads' SQLite calls did not help; collecting only between operations did. Python 3.12 moved the collector to
# safe points of the interpreter loop itself; on 3.11 the event loop takes that role.
COLLECT_IN_EVENT_LOOP = sys.version_info < (3, 12)
COLLECT_EVERY_SECONDS = 0.05
# A full collection walks every object (40-50 ms in a web process), and by the counts alone it fell due three times
# in the first 10 s of a loaded run. CPython's own collector also waits until the objects that survived since the
# last one are a quarter of all long-lived objects, which the counts don't show; this floor stands in for that rule.
FULL_COLLECTION_SECONDS = 60.0
_loop_collectors = 0


async def _collect_forever() -> None:
    thresholds = gc.get_threshold()
    loop = asyncio.get_running_loop()
    last_full = loop.time()
    while True:
        await asyncio.sleep(COLLECT_EVERY_SECONDS)
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if generation == 2 and loop.time() - last_full < FULL_COLLECTION_SECONDS:
                continue
            if thresholds[generation] and counts[generation] > thresholds[generation]:
                gc.collect(generation)
                if generation == 2:
                    last_full = loop.time()
                break


@asynccontextmanager
async def garbage_collection_in_event_loop() -> AsyncIterator[None]:
    """While open (an app's lifespan, the mail worker), automatic collection is off on Python 3.11 and the event
    loop collects at its own pace instead. A no-op on 3.12 and later."""
    global _loop_collectors
    if not COLLECT_IN_EVENT_LOOP:
        yield
        return
    _loop_collectors += 1
    gc.disable()
    collector = asyncio.create_task(_collect_forever())
    try:
        yield
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        _loop_collectors -= 1
        if _loop_collectors == 0:
            gc.enable()


@asynccontextmanager
async def transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: committed when the block succeeds, rolled back when it raises."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


def check_in(column: str, values: type[StrEnum]) -> CheckConstraint:
    """`column` holds one of the enum's values; named ck_<table>_<column> (the migrations add them, `add_checks`)."""
    return CheckConstraint(_in(column, values), name=column)


def add_checks(op: Any, allowed: Mapping[tuple[str, str], Sequence[str]]) -> None:
    """For a migration: each (table, column) holds only its values. PostgreSQL gets CHECK constraints. On SQLite a
    CHECK can only be added by rebuilding the table (with foreign keys on, rebuilding `people` would cascade its
    drop), so triggers abort the same INSERTs and UPDATEs there."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for (table, column), values in allowed.items():
        name = f"ck_{table}_{column}"
        if postgres:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({_in(column, values)})")
            continue
        for action in ("insert", "update"):
            op.execute(
                f"CREATE TRIGGER {name}_{action} BEFORE {action.upper()} "
                f"{'OF ' + column + ' ' if action == 'update' else ''}ON {table} "
                f"WHEN NOT (NEW.{_in(column, values)}) "
                f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {name}'); END"
            )


def drop_checks(op: Any, allowed: Iterable[tuple[str, str]]) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column in allowed:
        name = f"ck_{table}_{column}"
        if postgres:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        else:
            for action in ("insert", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{action}")
