"""Finding members: substring search over names and addresses, filters, sorting, keyset pages and counts.

The search index differs per database, and this module is the one place that says so: PostgreSQL answers ILIKE
and LIKE from a pg_trgm GIN index; SQLite answers from an FTS5 table with the trigram tokenizer (three characters or
more; shorter queries scan, which is quick enough for one or two characters of a name). The number of all members
is a row that triggers keep (people_count), on both, with the version of everything the list shows: what is kept
under a version (`kept`) is exact until the next change, in any process.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select, and_, func, literal, literal_column, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import CITIES, ROLES, Person
from club.admin.models import MEMBER_COUNT_TABLE, SQLITE_SEARCH_TABLE
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
    before: str = ""  # opaque cursor of the first row shown: the page before it ("previous")
    page: int = 1  # the page's number, for "51–100 of 20,029"
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
            before=str(params.get("before", "") or "")[:200] if not params.get("after") else "",
            page=_page_number(params.get("page")),
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
            "before": current.before,
            "page": str(current.page) if current.page > 1 and (current.after or current.before) else "",
        }
        return {key: value for key, value in values.items() if value}

    @property
    def is_filtered(self) -> bool:
        where = (self.q, self.status, self.city, self.language, self.interest, self.role)
        return any(where) or bool(self.joined_from or self.joined_to)


def _page_number(raw: object) -> int:
    try:
        return min(max(int(str(raw)), 1), 1_000_000) if raw else 1
    except ValueError:
        return 1


def _date(raw: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def search_condition(postgres: bool, q: str, *, dense: bool = False) -> ColumnElement[bool]:
    """Members whose name or address contains q.

    On SQLite, `dense` says that q matches many members. Fetching every match and sorting them all would then
    cost most of the request, so the query walks the sort order instead and tests each row: with LIKE when q is
    ASCII (LIKE folds ASCII case, as the trigram index does), otherwise against the set of matches (`id + 0`
    keeps SQLite from looking each match up by rowid)."""
    if postgres or len(q) < 3 or (dense and q.isascii()):
        pattern = f"%{escape_like(q)}%"
        if postgres and q.lower() != q.upper():
            return or_(Person.name.ilike(pattern, escape="\\"), Person.email.ilike(pattern, escape="\\"))
        # SQLite's LIKE ignores case for ASCII letters; other scripts have no case to ignore in names like 山田, and
        # PostgreSQL's LIKE is several times quicker than ILIKE, which lowers every row it tests.
        return or_(Person.name.like(pattern, escape="\\"), Person.email.like(pattern, escape="\\"))
    return (Person.id + 0 if dense else Person.id).in_(_fts_matches(q))


def _fts_matches(q: str) -> Select[Any]:
    return (
        select(literal_column("rowid"))
        .select_from(text(SQLITE_SEARCH_TABLE))
        .where(text(f"{SQLITE_SEARCH_TABLE} MATCH :search_phrase").bindparams(search_phrase=fts_phrase(q)))
    )


def filtered(postgres: bool, where: MemberFilter, *, dense: bool = False) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.q:
        conditions.append(search_condition(postgres, where.q, dense=dense))
    if where.status == "confirmed":
        conditions.append(Person.confirmed_at.is_not(None))
    elif where.status == "unconfirmed":
        conditions.append(Person.confirmed_at.is_(None))
    elif where.status == "subscribed":
        conditions.extend(
            [Person.newsletter.is_(True), Person.suppressed_at.is_(None), Person.confirmed_at.is_not(None)]
        )
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


def encode_cursor(sort: str, row: Any) -> str:
    """The cursor after row: a Person or a row of LIST_COLUMNS."""
    column, _desc = _sort_columns(sort)
    value = getattr(row, column.key)
    raw = json.dumps([value.isoformat() if isinstance(value, dt.datetime) else value, row.id])
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


# What the member list shows, read as plain rows: building ORM objects for 50 rows cost more than the query.
LIST_COLUMNS = (
    Person.id,
    Person.name,
    Person.email,
    Person.role,
    Person.city,
    Person.language,
    Person.newsletter,
    Person.created_at,
    Person.confirmed_at.is_not(None).label("confirmed"),
    Person.suppressed_at.is_not(None).label("suppressed"),
)


def members_query(
    postgres: bool,
    where: MemberFilter,
    *,
    paged: bool = True,
    dense: bool = False,
    columns: tuple[Any, ...] | None = None,
) -> Select[Any]:
    """The members that match, in the filter's order, after its cursor; whole Person objects unless columns."""
    column, descending = _sort_columns(where.sort)
    statement = select(*columns) if columns else select(Person)
    statement = statement.where(*filtered(postgres, where, dense=dense))
    position = decode_cursor(where.sort, where.after) if paged and where.after else None
    backwards = decode_cursor(where.sort, where.before) if paged and where.before and not where.after else None
    if position is not None:
        key = tuple_(column, Person.id)
        bound = tuple_(literal(position[0], type_=column.type), literal(position[1]))
        statement = statement.where(key < bound if descending else key > bound)
    elif backwards is not None:
        # The page before: walk the order the other way from the first row shown; find_members turns it round.
        key = tuple_(column, Person.id)
        bound = tuple_(literal(backwards[0], type_=column.type), literal(backwards[1]))
        statement = statement.where(key > bound if descending else key < bound)
        descending = not descending
    if descending:
        return statement.order_by(column.desc(), Person.id.desc())
    return statement.order_by(column, Person.id)


EVERYONE: ColumnElement[int] = literal_column(f"(SELECT members FROM {MEMBER_COUNT_TABLE})").label("everyone")


@dataclass
class MemberPage:
    members: list[Row[Any]]  # rows of LIST_COLUMNS
    next_cursor: str | None
    total: int
    previous_cursor: str | None = None
    exact: bool = False  # counted without the cap

    @property
    def total_capped(self) -> bool:
        return not self.exact and self.total > COUNT_CAP


# Above this many matches (of the search alone) SQLite walks the sort order instead of sorting every match.
DENSE_MATCHES = 1_000

# The number that goes up with every committed change of the members, their interests or the interests (0017's
# triggers). Read it before what is kept under it (the member list reads it with the session: route(reads=...)): on
# PostgreSQL each later statement sees at least as new a snapshot, so what is read afterwards is never older.
VERSION: ColumnElement[int] = literal_column(f"(SELECT version FROM {MEMBER_COUNT_TABLE})")
# What the member list made (its counts and its rendered list parts), per database, under the version it was made
# at: the last KEPT of them.
KEPT = 256
_kept: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[object, ...], Any]] = weakref.WeakKeyDictionary()
T = TypeVar("T")


async def kept(db: AsyncSession, version: int, key: tuple[object, ...], make: Callable[[], Awaitable[T]]) -> T:
    """What make() gives for key, made once per version in this process (the member list's pages, with several
    admins or page after page, ask for the same things until something changes). For reading requests only: what
    a transaction made after changing members itself would be kept under a version that does not include it."""
    keep = _kept.setdefault(db.get_bind(), OrderedDict())
    key = (version, *key)
    if key in keep:
        keep.move_to_end(key)
        return keep[key]
    value = keep[key] = await make()
    if len(keep) > KEPT:
        keep.popitem(last=False)
    return value


async def find_members(db: AsyncSession, where: MemberFilter, version: int, *, limit: int = PAGE_SIZE) -> MemberPage:
    """A page of members; version (VERSION, read first) keys the counts."""
    postgres = is_postgres(db)
    fts = bool(where.q) and not postgres and len(where.q) >= 3
    dense = False
    total: int | None = None
    if fts:
        # The search alone, counted in the FTS index without touching `people`: cheap, and it tells the shape.
        matches = await _counted(db, version, ("fts", where.q), _capped_count(_fts_matches(where.q)))
        if matches == 0:
            return MemberPage([], None, 0)
        dense = matches > DENSE_MATCHES
        if not (replace(where, q="").is_filtered or where.ids):
            total = matches
    everyone = not where.is_filtered and not where.ids  # then the total rides along with the rows
    columns = (*LIST_COLUMNS, EVERYONE) if everyone else LIST_COLUMNS
    query = members_query(postgres, where, dense=dense, columns=columns).limit(limit + 1)
    rows = list((await db.execute(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    backwards = bool(where.before) and not where.after and decode_cursor(where.sort, where.before) is not None
    if backwards:
        rows.reverse()
        earlier, later = more, True
    else:
        earlier, later = decode_cursor(where.sort, where.after) is not None if where.after else False, more
    if everyone:
        total = rows[0].everyone if rows else await count_all_members(db)
    if total is None:
        # Everything fits on the first page: the rows are the count.
        first_and_only = not more and not where.after and not backwards
        total = len(rows) if first_and_only else await count_members(db, where, version, dense=dense)
    return MemberPage(
        rows,
        encode_cursor(where.sort, rows[-1]) if later and rows else None,
        total,
        encode_cursor(where.sort, rows[0]) if earlier and rows else None,
        everyone,
    )


async def count_all_members(db: AsyncSession) -> int:
    """Everyone in the club, exactly, as the triggers keep it (the dashboard and the unfiltered list agree)."""
    return int((await db.execute(select(EVERYONE))).scalar_one())


async def interest_choices(db: AsyncSession, language: str) -> list[tuple[str, str]]:
    """(slug, name in language) of every interest, for the filter."""
    rows = await db.execute(
        select(Interest.slug, Interest.name_nl, Interest.name_en, Interest.name_ja).order_by(
            Interest.position, Interest.id
        )
    )
    return [(slug, {"nl": nl, "ja": ja}.get(language) or en) for slug, nl, en, ja in rows.all()]


def _capped_count(matching: Select[Any], cap: int = COUNT_CAP, *, cap_in_text: bool = False) -> Select[Any]:
    """select count(*) of matching, up to cap + 1. cap_in_text writes the cap into the statement instead of binding
    it: for a search of one or two characters (no trigram to look up in the index) PostgreSQL otherwise read the
    whole trigram index (400 ms at a million members) instead of scanning until it had the cap (45 ms). For longer
    searches the bound cap is better: with the number in the text it scanned the table for a rare name."""
    limit: Any = literal_column(str(cap + 1)) if cap_in_text else cap + 1
    return select(func.count()).select_from(matching.limit(limit).subquery())


async def _counted(db: AsyncSession, version: int, key: tuple[str, ...], statement: Select[Any]) -> int:
    async def count() -> int:
        return int((await db.execute(statement)).scalar_one())

    return await kept(db, version, ("count", *key), count)


async def count_members(
    db: AsyncSession, where: MemberFilter, version: int, *, cap: int = COUNT_CAP, dense: bool = False
) -> int:
    """How many members match, up to cap + 1 (shown as "10,000+"), counted once per version."""
    conditions = filtered(is_postgres(db), where, dense=dense)
    matching = select(Person.id)
    if conditions:
        matching = matching.where(and_(*conditions))
    key = tuple(f"{name}={value}" for name, value in sorted(where.params(after="", before="", page=1).items()))
    key += (f"cap={cap}", "ids=" + ",".join(map(str, where.ids)))
    short = is_postgres(db) and 0 < len(where.q) < 3
    return await _counted(db, version, key, _capped_count(matching, cap, cap_in_text=short))
