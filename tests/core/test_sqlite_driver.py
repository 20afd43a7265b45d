"""club.sqlite: statements in one hop, short reads on the event loop's thread, long reads moved off it, writes and
transactions as before. On a real SQLite file, through SQLAlchemy as the app uses it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from club import sqlite
from club.db import create_engine, create_sessionmaker
from tests.helpers import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's own driver")

# Counts to three million in SQLite's virtual machine: far longer than the read budget on any machine.
LONG_READ = (
    "SELECT (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n)"
)


@pytest.fixture
async def sqlite_engine(tmp_path) -> AsyncEngine:  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.sqlite3'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)"))
    yield engine
    await engine.dispose()


async def test_the_engine_uses_the_one_hop_driver(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, sqlite.Connection)


async def test_a_read_longer_than_its_budget_moves_to_the_thread_and_the_loop_goes_on(
    sqlite_engine: AsyncEngine,
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    running = asyncio.create_task(ticker())
    try:
        async with sqlite_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))  # connected: the next statement is the only wait
            before = ticks
            counted = (await connection.execute(text(LONG_READ))).scalar_one()
            during = ticks - before
            before = ticks
            assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 0
            short = ticks - before
    finally:
        running.cancel()
    # Interrupted on the loop's thread, then run again in full in the connection's: the whole answer, no error.
    assert counted == 3_000_000
    # While SQLite counted in the connection's thread, the event loop went on with other work...
    assert during > 1
    # ...and a short read was answered on the loop's own thread, without waiting for another.
    assert short == 0


async def test_rows_writes_rollbacks_and_errors_are_what_sqlite_says(sqlite_engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(sqlite_engine)
    async with sessions() as db:
        await db.execute(text("INSERT INTO notes (body) VALUES ('kept'), ('also kept')"))
        await db.commit()
    async with sessions() as db:
        await db.execute(text("INSERT INTO notes (body) VALUES ('rolled back')"))
        # Read inside the writing transaction: it sees its own row.
        assert (await db.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 3
        await db.rollback()
    async with sessions() as db:
        rows = (await db.execute(text("SELECT id, body FROM notes ORDER BY id"))).all()
        assert [body for _id, body in rows] == ["kept", "also kept"]
        result = await db.execute(text("UPDATE notes SET body = body || '!' WHERE id = :id"), {"id": rows[0].id})
        assert result.rowcount == 1  # type: ignore[attr-defined]
        with pytest.raises(IntegrityError):
            await db.execute(text("INSERT INTO notes (body) VALUES ('also kept')"))
        await db.rollback()
        with pytest.raises(OperationalError, match="no such table"):
            await db.execute(text("SELECT * FROM nowhere"))
    async with sessions() as db:
        assert (await db.execute(text("SELECT body FROM notes ORDER BY id"))).scalars().all() == ["kept", "also kept"]


async def test_streamed_results_still_come_in_parts(sqlite_engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(sqlite_engine)
    async with sessions() as db:
        await db.execute(text("INSERT INTO notes (body) VALUES (:body)"), [{"body": f"n{i}"} for i in range(250)])
        await db.commit()
    async with sessions() as db:
        stream = await db.stream(text("SELECT body FROM notes ORDER BY id"))
        parts = [len(part) async for part in stream.partitions(100)]
    assert parts == [100, 100, 50]
