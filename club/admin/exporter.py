"""Exporting members as CSV with the list's filters, streamed in keyset pages so memory stays flat at any size.

Cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR at the start) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from club.accounts.models import Person
from club.admin.search import MemberFilter, encode_cursor, members_query
from club.db import is_postgres
from club.members.models import Interest, MemberInterest

CHUNK = 2000
COLUMNS = ("email", "name", "city", "language", "role", "confirmed_at", "newsletter", "suppressed_at", "interests",
           "created_at")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Make a cell plain text for Excel and LibreOffice: '=HYPERLINK(...)' becomes "'=HYPERLINK(...)"."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([neutralise(value) for value in values])
    return buffer.getvalue()


async def _interests(db: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    rows = await db.execute(
        select(MemberInterest.person_id, Interest.slug)
        .join(Interest, Interest.id == MemberInterest.interest_id)
        .where(MemberInterest.person_id.in_(ids))
        .order_by(Interest.position, Interest.id)
    )
    found: dict[int, list[str]] = {}
    for person_id, slug in rows.all():
        found.setdefault(person_id, []).append(slug)
    return found


async def export_lines(sessionmaker: async_sessionmaker[AsyncSession], where: MemberFilter) -> AsyncIterator[str]:
    """The CSV, line by line: a BOM (so Excel reads UTF-8), the header, then every member the filter finds.
    Each page is read in its own short transaction, so a long export holds no lock."""
    yield "\ufeff" + _line(list(COLUMNS))
    where = replace(where, after="")
    while True:
        async with sessionmaker() as db:
            people = list((await db.execute(members_query(is_postgres(db), where).limit(CHUNK))).scalars())
            interests = await _interests(db, [person.id for person in people]) if people else {}
        if not people:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for person in people:
            writer.writerow([neutralise(value) for value in _values(person, interests.get(person.id, []))])
        yield buffer.getvalue()
        if len(people) < CHUNK:
            return
        where = replace(where, after=encode_cursor(where.sort, people[-1]))


def _values(person: Person, interests: list[str]) -> list[str]:
    return [
        person.email,
        person.name,
        person.city,
        person.language,
        person.role,
        person.confirmed_at.isoformat() if person.confirmed_at else "",
        "yes" if person.newsletter else "no",
        person.suppressed_at.isoformat() if person.suppressed_at else "",
        ";".join(interests),
        person.created_at.isoformat(),
    ]
