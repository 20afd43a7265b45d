"""0009 renames the join-link code to `ref` (people.ref, ambassadors.ref) and keeps every row that depends on it."""

import asyncio

from sqlalchemy import text

from club.db import create_engine
from club.migrate import downgrade, upgrade
from tests.core.test_migrations import empty_database  # noqa: F401  (the fixture)


def run(url: str, *statements: str) -> list[tuple]:
    async def go() -> list[tuple]:
        engine = create_engine(url)
        rows: list[tuple] = []
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                if result.returns_rows:
                    rows.extend(tuple(row) for row in result)
        await engine.dispose()
        return rows

    return asyncio.run(go())


def test_the_rename_keeps_ambassadors_their_terms_and_their_recruits(empty_database):  # noqa: F811
    upgrade(empty_database, "0006_newsletters")
    run(
        empty_database,
        "INSERT INTO people (id, email, name, role, language, city, newsletter, created_at, updated_at) VALUES "
        "(1, 'sofie@example.org', 'Sofie', 'ambassador', 'nl', 'ghent', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),"
        "(2, 'hanako@example.jp', 'Hanako', 'member', 'ja', 'kanazawa', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "UPDATE people SET joined_via = 'abc12345' WHERE id = 2",
        "INSERT INTO ambassadors (person_id, recruiting_code, created_at) VALUES (1, 'abc12345', CURRENT_TIMESTAMP)",
        "INSERT INTO appointments (person_id, starts_on, ends_on, home_institution, host_institution, stationed_in,"
        " created_at) VALUES (1, '2025-09-01', '2026-06-30', 'ugent', 'kanazawa-university', 'kanazawa',"
        " CURRENT_TIMESTAMP)",
    )
    upgrade(empty_database)
    assert run(empty_database, "SELECT person_id, ref FROM ambassadors") == [(1, "abc12345")]
    assert run(empty_database, "SELECT id FROM people WHERE ref = 'abc12345'") == [(2,)]
    assert run(empty_database, "SELECT count(*) FROM appointments") == [(1,)]
    downgrade(empty_database, "0006_newsletters")
    assert run(empty_database, "SELECT recruiting_code FROM ambassadors") == [("abc12345",)]
    assert run(empty_database, "SELECT joined_via FROM people WHERE id = 2") == [("abc12345",)]
    assert run(empty_database, "SELECT count(*) FROM appointments") == [(1,)]
