"""The migrations give exactly the models' schema, on SQLite and on PostgreSQL, and undo cleanly."""

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from club.db import create_engine
from club.migrate import downgrade, upgrade
from club.models import include_name, metadata


def diff_against_models(url: str) -> list:
    async def run() -> list:
        engine = create_engine(url)
        async with engine.connect() as connection:

            def compare(sync_connection):
                options = {"compare_type": True, "include_name": include_name}
                context = MigrationContext.configure(sync_connection, opts=options)
                return compare_metadata(context, metadata)

            result = await connection.run_sync(compare)
        await engine.dispose()
        return result

    return asyncio.run(run())


def table_names(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url)
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        await engine.dispose()
        return names

    return asyncio.run(run())


@pytest.fixture
def empty_database(tmp_path):
    from tests.helpers import ON_POSTGRES, TEST_DATABASE_URL, pg_execute

    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    import secrets

    name = f"club_migrations_{secrets.token_hex(4)}"
    asyncio.run(pg_execute(TEST_DATABASE_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield TEST_DATABASE_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(pg_execute(TEST_DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_upgrade_head_gives_the_models_schema_and_downgrade_base_undoes_it(empty_database):
    upgrade(empty_database)
    assert diff_against_models(empty_database) == []
    assert {table.name for table in metadata.sorted_tables} <= table_names(empty_database)
    downgrade(empty_database, "base")
    assert table_names(empty_database) <= {"alembic_version"}
    upgrade(empty_database)  # and back up again
    assert diff_against_models(empty_database) == []


def test_people_ids_are_never_reused_on_sqlite(empty_database):
    """Unsubscribe links are signed over a person's id: an erased member's id must not come back."""
    from tests.helpers import ON_POSTGRES

    upgrade(empty_database)
    if ON_POSTGRES:  # PostgreSQL sequences never hand an id out twice
        return

    async def schema() -> str:
        engine = create_engine(empty_database)
        async with engine.connect() as connection:
            sql = (await connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'people'")).scalar()
        await engine.dispose()
        return str(sql)

    assert "AUTOINCREMENT" in asyncio.run(schema())


def test_member_version_counts_up_and_downgrades_to_the_count_alone(empty_database):
    """0017: people_count.version goes up with every committed change of people (members still counted); its
    downgrade gives back 0015's triggers, which go on counting."""
    from tests.helpers import ON_POSTGRES

    async def run(*statements: str) -> list:
        engine = create_engine(empty_database)
        async with engine.begin() as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement)
        async with engine.connect() as connection:
            row = (await connection.exec_driver_sql("SELECT * FROM people_count")).one()
        await engine.dispose()
        return list(row)

    def join(email: str) -> str:
        return (
            "INSERT INTO people (email, name, role, city, language, newsletter, created_at, updated_at)"
            f" VALUES ('{email}', 'A', 'member', 'ghent', 'nl', false, '2026-01-01', '2026-01-01')"
        )

    upgrade(empty_database, "0016_event_checks")
    asyncio.run(run(join("a@example.org")))
    upgrade(empty_database)
    assert asyncio.run(run()) == [1, 0]
    assert asyncio.run(run(join("b@example.org"))) == [2, 1]
    # Two rows in one transaction: once at commit on PostgreSQL, once a row on SQLite.
    assert asyncio.run(run("UPDATE people SET name = 'B'")) == [2, 2 if ON_POSTGRES else 3]
    members, version = asyncio.run(run("DELETE FROM people WHERE email = 'a@example.org'"))
    assert (members, version) == (1, 3 if ON_POSTGRES else 4)
    downgrade(empty_database, "0016_event_checks")
    assert asyncio.run(run(join("c@example.org"))) == [2]
    upgrade(empty_database)
    assert asyncio.run(run("DELETE FROM people")) == [0, 1 if ON_POSTGRES else 2]
