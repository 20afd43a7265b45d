"""SQLite through aiosqlite with one hop per statement, and short reads without a hop.

SQLAlchemy's aiosqlite adapter sends each step of a statement to the connection's thread and back: open a cursor,
execute, fetch, close; then COMMIT and the pool's ROLLBACK, even when there is no transaction. Each hop is a GIL
handover both ways, and with 16 clients on the admin member list they cost more than the queries: about 18 hops a
request. This adapter (club.db.create_engine passes it to SQLAlchemy as the aiosqlite DBAPI) changes three things:

- a statement (execute, fetch every row, close) is one call, run in the connection's thread in one hop;
- COMMIT and ROLLBACK are skipped when the connection holds no transaction (a request that only read);
- a SELECT is first run on the event loop's own thread. SQLite answers most in well under a millisecond, less than
  a hop costs. A progress handler stops such a read once it has run READ_BUDGET seconds; it is then run again in
  the connection's thread, so a slow search holds the event loop for no longer than that. In WAL mode a read never
  waits for a lock; anything that writes always goes to the thread (it may wait for the write lock).

Server-side cursors (streamed exports) keep aiosqlite's own cursor.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

READ_BUDGET = 0.002  # seconds a read may run on the event loop's thread before it moves to the connection's
CHECK_EVERY = 5_000  # SQLite virtual machine steps between two looks at the clock

Outcome = tuple[Any, Any, int, Any]  # description, rows, rowcount, lastrowid


def _statement(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else ()
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _read_here(connection: sqlite3.Connection, operation: str, parameters: Any) -> Outcome | None:
    """The read's outcome, or None if it ran out of time (nothing was changed: it only read)."""
    deadline = time.perf_counter() + READ_BUDGET
    late = False

    def out_of_time() -> bool:
        nonlocal late
        late = time.perf_counter() > deadline
        return late

    connection.set_progress_handler(out_of_time, CHECK_EVERY)
    try:
        return _statement(connection, operation, parameters, False)
    except sqlite3.OperationalError:
        if late:
            return None
        raise
    finally:
        connection.set_progress_handler(None, 0)


def _is_read(operation: str) -> bool:
    return operation.lstrip()[:6].upper() == "SELECT"


class Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid", "_arraysize")
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any):
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: Any = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(operation, seq_of_parameters, True)

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            driver = self._connection
            connection = driver._conn
            outcome = None if many or not _is_read(operation) else _read_here(connection, operation, parameters)
            if outcome is None:
                outcome = await driver._execute(_statement, connection, operation, parameters, many)
            self._description, rows, self._rowcount, self._lastrowid = outcome
            self._rows = collections.deque(rows)


class Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = Cursor

    def _in_transaction(self) -> bool:
        driver = self._connection._connection
        return driver is not None and driver.in_transaction

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()


class DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> Connection:
        # The event loop's thread reads through the connection too (never while its own thread works on it).
        connection = self.aiosqlite.connect(*arg, **{**kw, "check_same_thread": False})
        connection._thread.daemon = True
        return Connection(self, await_(connection))
