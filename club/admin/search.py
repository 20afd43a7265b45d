"""Finding members: substring search over names and addresses, filters, sorting, keyset pages and counts.

The search index differs per database, and this module is the one place that says so: PostgreSQL answers ILIKE
from a pg_trgm GIN index; SQLite answers from an FTS5 table with the trigram tokenizer (three characters or more;
shorter queries scan, which is quick enough for one or two characters of a name).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import CITIES, ROLES, Person
from club.admin.models import SQLITE_SEARCH_TABLE
from club.db import is_postgres
from club.i18n import LANGUAGES
from club.members.models import Interest, MemberInterest

PAGE_SIZE = 50
MAX_QUERY = 100
# Counting stops here ("10,000+"): an exact count of a broad filter over a million rows costs a full scan.
COUNT_CAP = 10_000
STATUSES = ("confirmed", "unconfirmed", "subscribed", "unsubscribed", "suppressed")
SORTS = ("newest", "oldest", "name", "email")


def escape_like(value: str) -> str:
    """A LIKE pattern that matches value literally: % and _ are data, not wildcards (ESCAPE '\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fts_phrase(value: str) -> str:
    """An FTS5 query matching value as one phrase: quotes inside are doubled, so nothing is query syntax."""
    return '"' + value.replace('"', '""') + '"'


@dataclass
class MemberFilter:
    q: str = ""
    status: str = ""
    city: str = ""
    language: str = ""
    interest: str = ""
    role: str = ""
    joined_from: dt.date | None = None
    joined_to: dt.date | None = None
    sort: str = "newest"
    after: str = ""  # opaque cursor of the last row shown
    ids: list[int] = field(default_factory=list)

    @classmethod
    def from_params(cls, params: Any) -> MemberFilter:
        """Read the query string; an unknown value is ignored rather than refused (it came from a URL)."""

        def pick(name: str, allowed: tuple[str, ...]) -> str:
            value = str(params.get(name, "") or "")
            return value if value in allowed else ""

        return cls(
            q=" ".join(str(params.get("q", "") or "").split())[:MAX_QUERY],
            status=pick("status", STATUSES),
            city=pick("city", CITIES),
            language=pick("language", LANGUAGES),
            interest=str(params.get("interest", "") or "")[:40],
            role=pick("role", ROLES),
            joined_from=_date(params.get("joined_from")),
            joined_to=_date(params.get("joined_to")),
            sort=pick("sort", SORTS) or "newest",
            after=str(params.get("after", "") or "")[:200],
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters that reproduce this filter (for links: next page, export, sorting)."""
        current = replace(self, **changes)
        values = {
            "q": current.q,
            "status": current.status,
            "city": current.city,
            "language": current.language,
            "interest": current.interest,
            "role": current.role,
            "joined_from": current.joined_from.isoformat() if current.joined_from else "",
            "joined_to": current.joined_to.isoformat() if current.joined_to else "",
            "sort": current.sort if current.sort != "newest" else "",
            "after": current.after,
        }
        return {key: value for key, value in values.items() if value}

    @property
    def is_filtered(self) -> bool:
        return bool(self.q or self.status or self.city or self.language or self.interest or self.role
                    or self.joined_from or self.joined_to)


def _date(raw: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def search_condition(postgres: bool, q: str) -> ColumnElement[bool]:
    if postgres or len(q) < 3:
        pattern = f"%{escape_like(q)}%"
        if postgres:
            return or_(Person.name.ilike(pattern, escape="\\"), Person.email.ilike(pattern, escape="\\"))
        # SQLite's LIKE ignores case for ASCII letters; other scripts have no case to ignore in names like 山田.
        return or_(Person.name.like(pattern, escape="\\"), Person.email.like(pattern, escape="\\"))
    matches: Select[Any] = select(literal_column("rowid")).select_from(text(SQLITE_SEARCH_TABLE)).where(
        text(f"{SQLITE_SEARCH_TABLE} MATCH :search_phrase").bindparams(search_phrase=fts_phrase(q))
    )
    return Person.id.in_(matches)


def filtered(postgres: bool, where: MemberFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.q:
        conditions.append(search_condition(postgres, where.q))
    if where.status == "confirmed":
        conditions.append(Person.confirmed_at.is_not(None))
    elif where.status == "unconfirmed":
        conditions.append(Person.confirmed_at.is_(None))
    elif where.status == "subscribed":
        conditions.extend([Person.newsletter.is_(True), Person.suppressed_at.is_(None),
                           Person.confirmed_at.is_not(None)])
    elif where.status == "unsubscribed":
        conditions.append(Person.newsletter.is_(False))
    elif where.status == "suppressed":
        conditions.append(Person.suppressed_at.is_not(None))
    if where.city:
        conditions.append(Person.city == where.city)
    if where.language:
        conditions.append(Person.language == where.language)
    if where.role:
        conditions.append(Person.role == where.role)
    if where.interest:
        conditions.append(
            Person.id.in_(
                select(MemberInterest.person_id)
                .join(Interest, Interest.id == MemberInterest.interest_id)
                .where(Interest.slug == where.interest)
            )
        )
    if where.joined_from:
        conditions.append(Person.created_at >= _start_of(where.joined_from))
    if where.joined_to:
        conditions.append(Person.created_at < _start_of(where.joined_to + dt.timedelta(days=1)))
    if where.ids:
        conditions.append(Person.id.in_(where.ids))
    return conditions


def _sort_columns(sort: str) -> tuple[Any, bool]:
    """The column to sort on (ties broken by id) and whether the order is descending."""
    return {
        "newest": (Person.created_at, True),
        "oldest": (Person.created_at, False),
        "name": (Person.name, False),
        "email": (Person.email, False),
    }[sort]


def encode_cursor(sort: str, person: Person) -> str:
    column, _desc = _sort_columns(sort)
    value = getattr(person, column.key)
    raw = json.dumps([value.isoformat() if isinstance(value, dt.datetime) else value, person.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int] | None:
    try:
        value, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(last_id, int) or not isinstance(value, str):
            return None
        if sort in ("newest", "oldest"):
            return dt.datetime.fromisoformat(value), last_id
        return value, last_id
    except (ValueError, TypeError):
        return None


def members_query(postgres: bool, where: MemberFilter, *, paged: bool = True) -> Select[Person]:
    column, descending = _sort_columns(where.sort)
    statement = select(Person).where(*filtered(postgres, where))
    position = decode_cursor(where.sort, where.after) if paged and where.after else None
    if position is not None:
        key = tuple_(column, Person.id)
        statement = statement.where(key < tuple_(*_binds(column, position)) if descending
                                    else key > tuple_(*_binds(column, position)))
    if descending:
        return statement.order_by(column.desc(), Person.id.desc())
    return statement.order_by(column, Person.id)


def _binds(column: Any, position: tuple[Any, int]) -> tuple[Any, Any]:
    from sqlalchemy import literal

    return literal(position[0], type_=column.type), literal(position[1])


@dataclass
class MemberPage:
    members: list[Person]
    next_cursor: str | None
    total: int

    @property
    def total_capped(self) -> bool:
        return self.total > COUNT_CAP


async def find_members(db: AsyncSession, where: MemberFilter, *, limit: int = PAGE_SIZE) -> MemberPage:
    postgres = is_postgres(db)
    rows = list((await db.execute(members_query(postgres, where).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    total = await count_members(db, where)
    return MemberPage(rows, encode_cursor(where.sort, rows[-1]) if more and rows else None, total)


async def count_members(db: AsyncSession, where: MemberFilter, *, cap: int = COUNT_CAP) -> int:
    """How many members match, up to cap + 1 (shown as "10,000+")."""
    conditions = filtered(is_postgres(db), where)
    matching = select(Person.id)
    if conditions:
        matching = matching.where(and_(*conditions))
    statement = select(func.count()).select_from(matching.limit(cap + 1).subquery())
    return int((await db.execute(statement)).scalar_one())
