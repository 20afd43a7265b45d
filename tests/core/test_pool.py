"""The PostgreSQL pool: a connection that waited in the pool is checked before use, so a server restart (here: its
connections ended by the server) costs no request; one back in use at once is not checked."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from club import db as club_db
from tests.helpers import ON_POSTGRES, pg_execute

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="the PostgreSQL pool")


async def test_a_connection_killed_while_it_waited_in_the_pool_is_replaced_before_use(database_url, monkeypatch):
    engine = club_db.create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            first = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # Back in use at once: the same connection, not checked (a round trip fewer on every request).
        monkeypatch.setattr(club_db, "PING_IDLE_SECONDS", 60.0)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one() == first
        await pg_execute(database_url, f"SELECT pg_terminate_backend({first})")
        # It waited longer than the limit: checked, found dead, replaced; the statement does not fail.
        monkeypatch.setattr(club_db, "PING_IDLE_SECONDS", 0.0)
        async with engine.connect() as connection:
            second = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first
    finally:
        await engine.dispose()
