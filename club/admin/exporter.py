"""Exporting members as CSV with the list's filters, streamed in keyset pages so memory stays flat at any size.

The file is for people and for the import alike: column names, cities, languages, interests and yes/no in the
admin's language (the import accepts them back in any of the three), dates as Excel reads them (2024-04-01 and
2024-04-01 13:05, in the admin's time zone), the date of the newsletter consent, and `;` instead of `,` for Excel
set to Belgian (or any European) regional settings. An export imported again changes nothing.
Cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR at the start) get a leading apostrophe.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from club import csvfile, labels
from club.accounts.models import Person
from club.admin.csvformat import COLUMN_NAMES, EXPORT_ONLY_COLUMNS, NO_LABEL, YES_LABEL
from club.admin.search import MemberFilter, encode_cursor, members_query
from club.db import is_postgres
from club.i18n import DEFAULT_LANGUAGE, LANGUAGES, TIMEZONES, translate_for
from club.members.models import Consent, Interest, MemberInterest
from club.members.service import NEWSLETTER

neutralise = csvfile.neutralise

__all__ = ["neutralise", "export_lines", "DELIMITERS"]

CHUNK = 2000
COLUMNS = tuple(COLUMN_NAMES | EXPORT_ONLY_COLUMNS)  # what the import reads, then what only the export writes
DELIMITERS = {"comma": ",", "semicolon": ";"}


class Words:
    """The export's words in one language, looked up once per file."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self.zone = TIMEZONES[self.language]
        say = lambda message: translate_for(self.language, message)  # noqa: E731
        self.cities = {code: say(label) for code, label in labels.CITIES.items()}
        self.languages = {code: say(label) for code, label in labels.LANGUAGES.items()}
        self.roles = {code: say(label) for code, label in labels.ROLES.items()}
        self.yes, self.no = say(YES_LABEL), say(NO_LABEL)
        names = COLUMN_NAMES | EXPORT_ONLY_COLUMNS
        self.header = [names[column][self.language] for column in COLUMNS]

    def moment(self, value: dt.datetime | None) -> str:
        return value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M") if value else ""

    def day(self, value: dt.datetime | None) -> str:
        return value.astimezone(self.zone).strftime("%Y-%m-%d") if value else ""


async def _interests(db: AsyncSession, ids: list[int], language: str) -> dict[int, list[str]]:
    rows = await db.execute(
        select(MemberInterest.person_id, Interest)
        .join(Interest, Interest.id == MemberInterest.interest_id)
        .where(MemberInterest.person_id.in_(ids))
        .order_by(Interest.position, Interest.id)
    )
    found: dict[int, list[str]] = {}
    for person_id, interest in rows.all():
        found.setdefault(person_id, []).append(interest.name(language))
    return found


async def _consent_dates(db: AsyncSession, ids: list[int]) -> dict[int, dt.datetime]:
    """When each member last gave their newsletter consent."""
    rows = await db.execute(
        select(Consent.person_id, func.max(Consent.created_at))
        .where(Consent.person_id.in_(ids), Consent.purpose == NEWSLETTER, Consent.given.is_(True))
        .group_by(Consent.person_id)
    )
    return {person_id: given_at for person_id, given_at in rows.all()}


async def export_lines(
    sessionmaker: async_sessionmaker[AsyncSession],
    where: MemberFilter,
    *,
    language: str = DEFAULT_LANGUAGE,
    delimiter: str = ",",
) -> AsyncIterator[str]:
    """The CSV, line by line: a BOM (so Excel reads UTF-8), the header, then every member the filter finds.
    Each page is read in its own short transaction, so a long export holds no lock."""
    words = Words(language)
    yield csvfile.BOM + csvfile.row(words.header, delimiter)
    where = replace(where, after="")
    while True:
        async with sessionmaker() as db:
            people = list((await db.execute(members_query(is_postgres(db), where).limit(CHUNK))).scalars())
            ids = [person.id for person in people]
            interests = await _interests(db, ids, words.language) if people else {}
            consents = await _consent_dates(db, ids) if people else {}
        if not people:
            return
        buffer = io.StringIO()
        writer = csvfile.writer(buffer, delimiter)
        for person in people:
            writer.writerow(
                [
                    neutralise(value)
                    for value in _values(person, interests.get(person.id, []), consents.get(person.id), words)
                ]
            )
        yield buffer.getvalue()
        if len(people) < CHUNK:
            return
        where = replace(where, after=encode_cursor(where.sort, people[-1]))


def _values(person: Person, interests: list[str], consent: dt.datetime | None, words: Words) -> list[str]:
    return [
        person.email,
        person.name,
        words.cities.get(person.city, person.city),
        words.languages.get(person.language, person.language),
        ";".join(interests),
        words.yes if person.newsletter else words.no,
        words.day(consent),
        words.roles.get(person.role, person.role),
        words.moment(person.confirmed_at),
        words.moment(person.suppressed_at),
        words.moment(person.created_at),
    ]
