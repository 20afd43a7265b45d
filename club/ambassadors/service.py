"""Ambassadors' business: appointments and terms, activities and their review, the wall, the numbers,
reminders. Services flush when they need an id; the request (or the job) commits."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, delete, event, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session, selectinload

from club import publicpages
from club.accounts.models import Person
from club.ambassadors import labels, markdown, photos
from club.ambassadors.forms import ActivityInput, AppointmentInput
from club.ambassadors.models import Activity, ActivityPhoto, Ambassador, Appointment
from club.config import Settings
from club.db import exported, utcnow
from club.i18n import N_, _, use_language
from club.mail.render import queue_rendered

log = logging.getLogger("club.ambassadors")

CLUB_TIMEZONE = ZoneInfo("Europe/Brussels")
STATION_TIMEZONES = {"ghent": ZoneInfo("Europe/Brussels"), "kanazawa": ZoneInfo("Asia/Tokyo")}
REMIND_AFTER = dt.timedelta(days=30)
WALL_PAGE_SIZE = 24
QUEUE_PAGE_SIZE = 50
FEED_SIZE = 30
REF_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CERTIFICATE_FROM = dt.timedelta(days=30)  # the certificate opens in the last month of a term


class AppointError(Exception):
    """An appointment the admin cannot make; message is a message id for the form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def club_today() -> dt.date:
    return dt.datetime.now(CLUB_TIMEZONE).date()


def station_today(stationed_in: str) -> dt.date:
    """'Today' where the ambassador is: a Kanazawa evening is already tomorrow in Japan."""
    return dt.datetime.now(STATION_TIMEZONES.get(stationed_in, CLUB_TIMEZONE)).date()


def join_url(settings: Settings, ref: str) -> str:
    return settings.absolute_url(f"/join?ref={ref}")


# ---- appointments and terms ------------------------------------------------------------------------------------


def current_term_clause(today: dt.date) -> Any:
    return and_(Appointment.ended_on.is_(None), Appointment.starts_on <= today, Appointment.ends_on >= today)


async def current_appointment(db: AsyncSession, person_id: int, today: dt.date | None = None) -> Appointment | None:
    today = today or club_today()
    return (
        await db.execute(
            select(Appointment)
            .where(Appointment.person_id == person_id, current_term_clause(today))
            .order_by(Appointment.starts_on.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def appointments_of(db: AsyncSession, person_id: int) -> list[Appointment]:
    return list(
        (
            await db.execute(
                select(Appointment).where(Appointment.person_id == person_id).order_by(Appointment.starts_on.desc())
            )
        ).scalars()
    )


async def ambassador_of(db: AsyncSession, person_id: int) -> Ambassador | None:
    return await db.get(Ambassador, person_id)


async def _new_ref(db: AsyncSession) -> str:
    while True:
        ref = "".join(secrets.choice(REF_ALPHABET) for _ in range(8))
        if not (await db.execute(select(exists().where(Ambassador.ref == ref)))).scalar():
            return ref


async def appoint(
    db: AsyncSession, settings: Settings, data: AppointmentInput, *, admin: Person, today: dt.date | None = None
) -> Appointment:
    """Appoint a confirmed member for a term; they get the ambassador role when it starts, and a welcome mail."""
    today = today or club_today()
    person = (await db.execute(select(Person).where(Person.email == data.email))).scalar_one_or_none()
    if person is None:
        raise AppointError("email", N_("No member has this email address."))
    if person.role == "admin":
        raise AppointError("email", N_("Admins cannot be appointed as ambassadors."))
    if not person.is_confirmed:
        raise AppointError("email", N_("This member has not confirmed their email address yet."))
    overlapping = await db.execute(
        select(
            exists().where(
                Appointment.person_id == person.id,
                Appointment.ended_on.is_(None),
                Appointment.starts_on <= data.ends_on,
                Appointment.ends_on >= data.starts_on,
            )
        )
    )
    if overlapping.scalar():
        raise AppointError("starts_on", N_("This member already has a term in these dates."))
    ambassador = await db.get(Ambassador, person.id)
    if ambassador is None:
        ambassador = Ambassador(person_id=person.id, ref=await _new_ref(db))
        db.add(ambassador)
        await db.flush()
    appointment = Appointment(
        person_id=person.id,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        home_institution=data.home_institution,
        host_institution=data.host_institution,
        stationed_in=data.stationed_in,
        appointed_by_id=admin.id,
    )
    db.add(appointment)
    await db.flush()
    await sync_role(db, person, today)
    await _queue(
        db,
        settings,
        person,
        "welcome",
        subject=lambda: _("Welcome, ambassador of Ghent and Kanazawa"),
        context={"appointment": appointment, "join_url": join_url(settings, ambassador.ref)},
    )
    return appointment


async def end_term(
    db: AsyncSession, appointment: Appointment, *, admin: Person | None, today: dt.date | None = None
) -> None:
    """End a term now (or record that it ran out); the ambassador role goes with it."""
    today = today or club_today()
    if appointment.ended_on is not None:
        return
    appointment.ended_on = min(today, appointment.ends_on) if appointment.starts_on <= today else appointment.starts_on
    appointment.ended_by_id = admin.id if admin else None
    await db.flush()
    person = await db.get(Person, appointment.person_id)
    if person is not None:
        await sync_role(db, person, today)


async def sync_role(db: AsyncSession, person: Person, today: dt.date) -> bool:
    """Give or take the ambassador role to match the person's terms. Sessions stay: the role is read from the person
    at every request, so someone logged in simply sees their new pages (and loses the old ones) at the next click."""
    if person.role == "admin":
        return False
    has_term = (
        await db.execute(select(exists().where(Appointment.person_id == person.id, current_term_clause(today))))
    ).scalar()
    wanted = "ambassador" if has_term else "member"
    if person.role == wanted:
        return False
    person.role = wanted
    await db.flush()
    return True


async def sync_roles(db: AsyncSession, today: dt.date | None = None) -> int:
    """The daily pass: close terms that ran out, and bring everyone's role in line with their terms."""
    today = today or club_today()
    await db.execute(
        update(Appointment)
        .where(Appointment.ended_on.is_(None), Appointment.ends_on < today)
        .values(ended_on=Appointment.ends_on)
    )
    has_term = exists().where(Appointment.person_id == Person.id, current_term_clause(today))
    changed = (
        (
            await db.execute(
                select(Person).where(
                    or_(and_(Person.role == "ambassador", ~has_term), and_(Person.role == "member", has_term))
                )
            )
        )
        .scalars()
        .all()
    )
    for person in changed:
        await sync_role(db, person, today)
    return len(changed)


async def ambassadors_overview(db: AsyncSession, today: dt.date) -> list[tuple[Appointment, Person]]:
    """Current and upcoming terms first, then the history."""
    rows = await db.execute(
        select(Appointment, Person)
        .join(Person, Person.id == Appointment.person_id)
        .order_by(
            Appointment.ended_on.is_not(None),
            Appointment.ends_on < today,
            Appointment.starts_on.desc(),
            Appointment.id.desc(),
        )
        .limit(500)
    )
    return [(appointment, person) for appointment, person in rows]


# ---- activities ------------------------------------------------------------------------------------------------


def _apply(activity: Activity, data: ActivityInput) -> None:
    for name, value in data.model_dump().items():  # the form's fields are the activity's columns
        setattr(activity, name, value)
    activity.description_html = markdown.render(data.description)


async def save_activity(
    db: AsyncSession,
    *,
    person: Person,
    appointment: Appointment,
    data: ActivityInput,
    submit: bool,
    new_photos: Sequence[photos.ProcessedPhoto],
    activity: Activity | None = None,
    remove_keys: Sequence[str] = (),
) -> Activity:
    if activity is None:
        activity = Activity(person_id=person.id, appointment_id=appointment.id, photos=[])
        db.add(activity)
    elif activity.status == "approved":
        publicpages.changed(db)  # it leaves the wall until approved again
    _apply(activity, data)
    if submit:
        activity.status = "submitted"
        activity.submitted_at = utcnow()
    else:
        activity.status = "draft"
    kept = [photo for photo in activity.photos if photo.key not in remove_keys]
    for photo in activity.photos:
        if photo.key in remove_keys:
            await db.delete(photo)
    for offset, processed in enumerate(new_photos):
        kept.append(
            ActivityPhoto(
                key=processed.key, width=processed.width, height=processed.height, position=len(kept) + offset
            )
        )
    for position, photo in enumerate(kept):
        photo.position = position
    activity.photos = kept
    await db.flush()
    return activity


async def own_activity(db: AsyncSession, person_id: int, activity_id: int) -> Activity | None:
    """The person's own activity, with its photos; someone else's is as good as missing."""
    return (
        await db.execute(
            select(Activity)
            .options(selectinload(Activity.photos))
            .where(Activity.id == activity_id, Activity.person_id == person_id)
        )
    ).scalar_one_or_none()


async def withdraw(db: AsyncSession, activity: Activity) -> list[str]:
    """Delete an activity that was not approved yet; returns the photo keys whose files can go."""
    keys = [photo.key for photo in activity.photos]
    await db.delete(activity)
    await db.flush()
    return keys


async def activities_of(db: AsyncSession, person_id: int, *, limit: int = 200) -> list[Activity]:
    return list(
        (
            await db.execute(
                select(Activity)
                .where(Activity.person_id == person_id)
                .order_by(Activity.happened_on.desc(), Activity.id.desc())
                .limit(limit)
            )
        ).scalars()
    )


@dataclass
class Totals:
    activities: int = 0
    quarter_hours: int = 0
    people_reached: int = 0
    recruits: int = 0
    waiting: int = 0
    by_category: list[tuple[str, int, int, int]] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return self.quarter_hours / 4


async def totals_for(db: AsyncSession, person_id: int, *, appointment: Appointment | None = None) -> Totals:
    """What an ambassador achieved: approved activities only (of one term, when given)."""
    where = [Activity.person_id == person_id, Activity.status == "approved"]
    if appointment is not None:
        where.append(Activity.appointment_id == appointment.id)
    row = (await db.execute(select(*SUMS).where(*where))).one()
    by_category = (
        await db.execute(
            select(Activity.category, func.count(), func.sum(Activity.quarter_hours), func.sum(Activity.people_reached))
            .where(*where)
            .group_by(Activity.category)
            .order_by(func.count().desc())
        )
    ).all()
    waiting = (
        await db.execute(select(func.count()).where(Activity.person_id == person_id, Activity.status == "submitted"))
    ).scalar_one()
    ambassador = await db.get(Ambassador, person_id)
    recruits = await recruits_of(db, ambassador.ref) if ambassador else 0
    return Totals(
        activities=int(row[0]),
        quarter_hours=int(row[1]),
        people_reached=int(row[2]),
        recruits=recruits,
        waiting=int(waiting),
        by_category=[(c, int(n), int(q or 0), int(p or 0)) for c, n, q, p in by_category],
    )


async def recruits_of(db: AsyncSession, ref: str) -> int:
    """Members who joined through the ambassador's link and confirmed their address."""
    return int(
        (await db.execute(select(func.count()).where(Person.ref == ref, Person.confirmed_at.is_not(None)))).scalar_one()
    )


# ---- review ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """The review queue, narrowed to one ambassador and/or one category."""

    ambassador: int | None = None
    category: str = ""

    def query(self) -> dict[str, str]:
        values = {"ambassador": str(self.ambassador) if self.ambassador else "", "category": self.category}
        return {k: v for k, v in values.items() if v}

    def where(self) -> list[Any]:
        where: list[Any] = [Activity.status == "submitted"]
        if self.ambassador:
            where.append(Activity.person_id == self.ambassador)
        if self.category:
            where.append(Activity.category == self.category)
        return where


async def review_queue(
    db: AsyncSession, filters: QueueFilter = QueueFilter(), *, page: int = 1
) -> tuple[list[Activity], int]:
    total = (await db.execute(select(func.count()).where(*filters.where()))).scalar_one()
    rows = (
        await db.execute(
            select(Activity)
            .options(selectinload(Activity.author), selectinload(Activity.photos))
            .where(*filters.where())
            .order_by(Activity.submitted_at, Activity.id)
            .offset((page - 1) * QUEUE_PAGE_SIZE)
            .limit(QUEUE_PAGE_SIZE)
        )
    ).scalars()
    return list(rows), int(total)


async def queue_authors(db: AsyncSession) -> list[tuple[int, str]]:
    """The ambassadors who have activities waiting, for the queue's filter."""
    rows = await db.execute(
        select(Person.id, Person.name)
        .where(exists().where(Activity.person_id == Person.id, Activity.status == "submitted"))
        .order_by(Person.name, Person.id)
    )
    return [(int(i), str(name)) for i, name in rows]


@dataclass(frozen=True)
class QueuePlace:
    """Where an activity stands in the (filtered) queue: its position, the total, its neighbours."""

    position: int
    total: int
    previous_id: int | None
    next_id: int | None


async def queue_place(db: AsyncSession, activity: Activity, filters: QueueFilter) -> QueuePlace:
    submitted_at = activity.submitted_at or utcnow()
    before = or_(
        Activity.submitted_at < submitted_at, and_(Activity.submitted_at == submitted_at, Activity.id < activity.id)
    )
    after = or_(
        Activity.submitted_at > submitted_at, and_(Activity.submitted_at == submitted_at, Activity.id > activity.id)
    )
    where = filters.where()
    ahead = (await db.execute(select(func.count()).where(*where, before))).scalar_one()
    total = (await db.execute(select(func.count()).where(*where))).scalar_one()
    previous_id = (
        await db.execute(
            select(Activity.id)
            .where(*where, before)
            .order_by(Activity.submitted_at.desc(), Activity.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    next_id = (
        await db.execute(select(Activity.id).where(*where, after).order_by(Activity.submitted_at, Activity.id).limit(1))
    ).scalar_one_or_none()
    return QueuePlace(int(ahead) + 1, int(total), previous_id, next_id)


async def submitted_activities(db: AsyncSession, ids: Sequence[int]) -> list[Activity]:
    if not ids:
        return []
    return list(
        (
            await db.execute(
                select(Activity).where(Activity.id.in_(set(ids)), Activity.status == "submitted").order_by(Activity.id)
            )
        ).scalars()
    )


async def activity_for_review(db: AsyncSession, activity_id: int) -> Activity | None:
    return (
        await db.execute(
            select(Activity)
            .options(selectinload(Activity.author), selectinload(Activity.photos), selectinload(Activity.appointment))
            .where(Activity.id == activity_id)
        )
    ).scalar_one_or_none()


async def approve(db: AsyncSession, activity: Activity, *, admin: Person, comment: str | None = None) -> None:
    """Approve an activity; with a comment it goes back to its author instead (send_back)."""
    if comment is None:
        publicpages.changed(db)  # onto the wall
    activity.status = "approved" if comment is None else "returned"
    activity.review_comment = comment
    activity.reviewed_by_id = admin.id
    activity.reviewed_at = utcnow()
    await db.flush()


async def send_back(db: AsyncSession, settings: Settings, activity: Activity, *, admin: Person, comment: str) -> None:
    await approve(db, activity, admin=admin, comment=comment)
    assert activity.author is not None  # only an ambassador's own submitted activity is reviewed
    await _queue(
        db,
        settings,
        activity.author,
        "returned",
        subject=lambda: _("Your activity needs a change: %(title)s", title=activity.title[:80]),
        context={
            "activity": activity,
            "comment": comment,
            "edit_url": settings.absolute_url(f"/activities/{activity.id}/edit"),
        },
    )


# ---- the public wall and feed ----------------------------------------------------------------------------------


@event.listens_for(Person.name, "set")
def _author_renamed(person: Person, name: str, old: object, _initiator: object) -> None:
    """The wall names each activity's author: a new name (by the member or an admin) is a public change."""
    session = object_session(person)
    if session is not None and name != old:
        publicpages.changed(session)


@dataclass(frozen=True)
class WallFilter:
    category: str = ""
    city: str = ""
    year: int | None = None

    def query(self) -> dict[str, str]:
        values = {"category": self.category, "city": self.city, "year": str(self.year) if self.year else ""}
        return {k: v for k, v in values.items() if v}


def _public(statement: Select[Any], filters: WallFilter) -> Select[Any]:
    statement = statement.where(Activity.status == "approved", Activity.public.is_(True))
    if filters.category:
        statement = statement.where(Activity.category == filters.category)
    if filters.city:
        statement = statement.where(Activity.city == filters.city)
    if filters.year:
        statement = statement.where(
            Activity.happened_on >= dt.date(filters.year, 1, 1), Activity.happened_on < dt.date(filters.year + 1, 1, 1)
        )
    return statement


async def wall_page(
    db: AsyncSession, filters: WallFilter, *, before: tuple[dt.date, int] | None = None, size: int = WALL_PAGE_SIZE
) -> tuple[list[Activity], tuple[dt.date, int] | None]:
    """One page of the wall, newest first, by keyset: the cursor is the last card's (date, id)."""
    statement = _public(select(Activity), filters)
    if before is not None:
        day, last_id = before
        statement = statement.where(
            or_(Activity.happened_on < day, and_(Activity.happened_on == day, Activity.id < last_id))
        )
    rows = list(
        (
            await db.execute(
                statement.options(selectinload(Activity.author), selectinload(Activity.photos))
                .order_by(Activity.happened_on.desc(), Activity.id.desc())
                .limit(size + 1)
            )
        ).scalars()
    )
    more = len(rows) > size
    rows = rows[:size]
    cursor = (rows[-1].happened_on, rows[-1].id) if more and rows else None
    return rows, cursor


async def public_activity(db: AsyncSession, activity_id: int) -> Activity | None:
    return (
        await db.execute(
            _public(select(Activity), WallFilter())
            .options(selectinload(Activity.author), selectinload(Activity.photos))
            .where(Activity.id == activity_id)
        )
    ).scalar_one_or_none()


async def wall_years(db: AsyncSession) -> list[int]:
    """The years that have approved public activities, newest first (for the filter)."""
    first = (
        await db.execute(
            select(func.min(Activity.happened_on), func.max(Activity.happened_on)).where(
                Activity.status == "approved", Activity.public.is_(True)
            )
        )
    ).one()
    if first[0] is None:
        return []
    return list(range(first[1].year, first[0].year - 1, -1))


async def feed_entries(db: AsyncSession) -> list[Activity]:
    rows, _cursor = await wall_page(db, WallFilter(), size=FEED_SIZE)
    return rows


async def photo_for_viewer(db: AsyncSession, key: str, viewer: Person | None) -> ActivityPhoto | None:
    """A photo may be seen by anyone when its activity is on the wall, else by its author and admins."""
    row = (
        await db.execute(
            select(ActivityPhoto, Activity.status, Activity.public, Activity.person_id)
            .join(Activity, Activity.id == ActivityPhoto.activity_id)
            .where(ActivityPhoto.key == key)
        )
    ).first()
    if row is None:
        return None
    photo, status, public, author_id = row
    if status == "approved" and public:
        return photo
    if viewer is not None and (viewer.role == "admin" or viewer.id == author_id):
        return photo
    return None


# ---- the year in numbers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumbersFilter:
    year: int
    category: str = ""
    city: str = ""

    def query(self) -> dict[str, str]:
        values = {"year": str(self.year), "category": self.category, "city": self.city}
        return {k: v for k, v in values.items() if v}


@dataclass
class Row:
    key: str
    label: str
    activities: int
    quarter_hours: int
    people_reached: int

    @property
    def hours(self) -> float:
        return self.quarter_hours / 4


def _numbers_where(filters: NumbersFilter) -> list[Any]:
    where = [
        Activity.status == "approved",
        Activity.happened_on >= dt.date(filters.year, 1, 1),
        Activity.happened_on < dt.date(filters.year + 1, 1, 1),
    ]
    if filters.category:
        where.append(Activity.category == filters.category)
    if filters.city:
        where.append(Activity.city == filters.city)
    return where


SUMS = (
    func.count(),
    func.coalesce(func.sum(Activity.quarter_hours), 0),
    func.coalesce(func.sum(Activity.people_reached), 0),
)
DIMENSIONS = ("month", "category", "city", "institution", "ambassador")


def metric_of(row: Row, metric: str) -> int:
    if metric == "hours":
        return row.quarter_hours
    if metric == "people":
        return row.people_reached
    return row.activities


def by_metric(rows: list[Row], metric: str) -> list[Row]:
    """Largest first by the metric shown, so a chart and its table read from the top."""
    return sorted(rows, key=lambda row: (-metric_of(row, metric), row.label))


async def numbers(
    db: AsyncSession, filters: NumbersFilter, dimension: str, *, limit: int = 30, metric: str = "activities"
) -> list[Row]:
    """Totals of approved activities per month, category, city, home institution or ambassador, summed in SQL; the
    ambassadors are the top `limit` by the metric shown."""
    where = _numbers_where(filters)
    if dimension == "month":
        month = func.extract("month", Activity.happened_on)
        rows = (await db.execute(select(month, *SUMS).where(*where).group_by(month))).all()
        found = {int(m): (int(n), int(q), int(p)) for m, n, q, p in rows}
        return [Row(str(m), str(m), *found.get(m, (0, 0, 0))) for m in range(1, 13)]
    if dimension in ("category", "city", "institution"):
        if dimension == "institution":  # an ambassador's home institution, through their terms
            sums = select(Activity.appointment_id, *SUMS).where(*where).group_by(Activity.appointment_id).subquery()
            statement = (
                select(Appointment.home_institution, func.sum(sums.c[1]), func.sum(sums.c[2]), func.sum(sums.c[3]))
                .join(sums, sums.c.appointment_id == Appointment.id)
                .group_by(Appointment.home_institution)
                .order_by(func.sum(sums.c[1]).desc())
            )
        else:
            column = getattr(Activity, dimension)
            statement = select(column, *SUMS).where(*where).group_by(column).order_by(func.count().desc())
        rows = (await db.execute(statement)).all()
        return by_metric([Row(k, k, int(n), int(q), int(p)) for k, n, q, p in rows], metric)
    if dimension == "ambassador":
        count, quarters, people = SUMS
        order = {"activities": count, "hours": quarters, "people": people}.get(metric, count)
        person_sums = (
            select(
                Activity.person_id,
                Activity.former_ambassador_key,
                count.label("n"),
                quarters.label("q"),
                people.label("p"),
            )
            .where(*where)
            .group_by(Activity.person_id, Activity.former_ambassador_key)
            .order_by(order.desc(), Activity.person_id, Activity.former_ambassador_key)
            .limit(limit)
            .subquery()
        )
        ambassador_rows = (
            await db.execute(
                select(
                    person_sums.c.person_id,
                    person_sums.c.former_ambassador_key,
                    Person.name,
                    person_sums.c.n,
                    person_sums.c.q,
                    person_sums.c.p,
                )
                .outerjoin(Person, person_sums.c.person_id == Person.id)
                .order_by(person_sums.c.q.desc(), person_sums.c.person_id, person_sums.c.former_ambassador_key)
            )
        ).all()
        former = _("a former ambassador")
        ranked = [
            Row(str(i) if i is not None else f"former-{key}", name if i is not None else former, int(n), int(q), int(p))
            for i, key, name, n, q, p in ambassador_rows
        ]
        return by_metric(ranked, metric)
    raise ValueError(f"unknown dimension {dimension!r}")


async def year_totals(db: AsyncSession, filters: NumbersFilter) -> Row:
    """The year's totals; the label carries the number of active ambassadors."""
    # An erased ambassador's activities have no person, but one former_ambassador_key: still one ambassador.
    n, q, p, active, former = (
        await db.execute(
            select(
                *SUMS,
                func.count(func.distinct(Activity.person_id)),
                func.count(func.distinct(Activity.former_ambassador_key)),
            ).where(*_numbers_where(filters))
        )
    ).one()
    return Row("total", str(int(active) + int(former)), int(n), int(q), int(p))


async def activity_years(db: AsyncSession) -> list[int]:
    low, high = (
        await db.execute(
            select(func.min(Activity.happened_on), func.max(Activity.happened_on)).where(Activity.status == "approved")
        )
    ).one()
    if low is None:
        return [club_today().year]
    return list(range(max(high.year, club_today().year), low.year - 1, -1))


async def export_rows(db: AsyncSession, filters: NumbersFilter) -> AsyncIterator[tuple[Any, ...]]:
    """Approved activities for the CSV export, streamed in the order they happened."""
    statement = (
        select(
            Activity.id,
            Activity.happened_on,
            Person.name,
            Appointment.home_institution,
            Appointment.host_institution,
            Activity.category,
            Activity.city,
            Activity.venue,
            Activity.title,
            Activity.people_reached,
            Activity.quarter_hours,
            Activity.public,
            Activity.link,
        )
        .outerjoin(Person, Person.id == Activity.person_id)  # none for an erased ambassador's activities
        .join(Appointment, Appointment.id == Activity.appointment_id)
        .where(*_numbers_where(filters))
        .order_by(Activity.happened_on, Activity.id)
        .execution_options(yield_per=1000)
    )
    result = await db.stream(statement)
    async for row in result:
        yield tuple(row)


# ---- reminders -------------------------------------------------------------------------------------------------


async def send_reminders(db: AsyncSession, settings: Settings, *, now: dt.datetime | None = None) -> int:
    """One friendly mail to each ambassador in a term who logged nothing for 30 days (counted from the start of
    the term, or the last activity logged); after a reminder, the next one waits for a new quiet stretch."""
    now = now or utcnow()
    today = now.astimezone(CLUB_TIMEZONE).date()
    cutoff = now - REMIND_AFTER
    last_logged = (
        select(func.max(Activity.created_at))
        .where(Activity.person_id == Appointment.person_id)
        .correlate(Appointment)
        .scalar_subquery()
    )
    quiet_since = func.coalesce(last_logged, Appointment.created_at)
    candidates = (
        await db.execute(
            select(Appointment, Person)
            .join(Person, Person.id == Appointment.person_id)
            .where(
                current_term_clause(today),
                Appointment.starts_on <= (today - REMIND_AFTER),
                Person.role == "ambassador",
                Person.suppressed_at.is_(None),
                quiet_since < cutoff,
                or_(Appointment.reminded_at.is_(None), Appointment.reminded_at < quiet_since),
            )
            .execution_options(populate_existing=True)
        )
    ).all()
    sent = 0
    for appointment, person in candidates:
        # Claimed by a conditional update, so two processes running this pass never both send.
        claimed = await db.execute(
            update(Appointment)
            .where(
                Appointment.id == appointment.id,
                or_(Appointment.reminded_at.is_(None), Appointment.reminded_at == appointment.reminded_at),
            )
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        sent += 1
        await _queue(
            db,
            settings,
            person,
            "reminder",
            subject=lambda: _("How are things going, ambassador?"),
            context={"appointment": appointment, "new_url": settings.absolute_url("/activities/new")},
        )
    await db.flush()
    return sent


# ---- mail ------------------------------------------------------------------------------------------------------


async def _queue(
    db: AsyncSession, settings: Settings, person: Person, template: str, *, subject: Any, context: dict[str, Any]
) -> None:
    with use_language(person.language) as language:
        title = subject()
    await queue_rendered(
        db,
        person,
        f"ambassadors/mail/{template}",
        language,
        kind=f"ambassador-{template}",
        subject=title,
        **{
            **labels.TEMPLATE_HELPERS,
            "person": person,
            "base_url": settings.base_url,
            "activities_url": settings.absolute_url("/activities"),
            **context,
        },
    )


def remove_photo_files(var_dir: Path, keys: Sequence[str]) -> None:
    for key in keys:
        photos.remove(var_dir, key)


# ---- privacy: export and erasure -------------------------------------------------------------------------------


ACTIVITY_EXPORT = (
    "id happened_on title category city venue description people_reached hours link public status review_comment "
    "created_at submitted_at reviewed_at"
)


def photo_url(settings: Settings, key: str, size: str) -> str:
    return settings.absolute_url(f"/ambassadors/photos/{key}-{size}.jpg")


async def export_ambassador(db: AsyncSession, settings: Settings, person: Person) -> dict[str, Any]:
    """What the ambassadors' feature holds about a person, for their data export and the admin's member page:
    the recruiting code and how many joined through it, every term, every activity (drafts too) with its photos."""
    ambassador = await db.get(Ambassador, person.id)
    terms = await appointments_of(db, person.id)
    activities = list(
        (
            await db.execute(
                select(Activity)
                .options(selectinload(Activity.photos))
                .where(Activity.person_id == person.id)
                .order_by(Activity.happened_on.desc(), Activity.id.desc())
            )
        ).scalars()
    )
    return {
        "recruiting": {
            "code": ambassador.ref,
            "join_url": join_url(settings, ambassador.ref),
            "recruits": await recruits_of(db, ambassador.ref),
        }
        if ambassador is not None
        else None,
        "appointments": [
            exported(term, "starts_on ends_on ended_on home_institution host_institution stationed_in")
            for term in terms
        ],
        "activities": [
            {
                **exported(activity, ACTIVITY_EXPORT),
                "photos": [
                    {
                        "large": photo_url(settings, photo.key, "large"),
                        "thumb": photo_url(settings, photo.key, "thumb"),
                        "width": photo.width,
                        "height": photo.height,
                    }
                    for photo in activity.photos
                ],
            }
            for activity in activities
        ],
    }


async def erase_ambassador(db: AsyncSession, person: Person) -> list[str]:
    """Before a person is erased: their approved activities (and the terms they belong to) stay, credited to a
    former ambassador, so the wall, the numbers and the report do not change; drafts, activities waiting for
    review or sent back, the other terms and the recruiting code go. Returns the keys of the photos whose files
    must go (those of the activities deleted; the kept activities keep theirs)."""
    theirs = select(Activity.id, Activity.status, Activity.appointment_id).where(Activity.person_id == person.id)
    rows = (await db.execute(theirs)).all()
    kept = [activity_id for activity_id, status, _term in rows if status == "approved"]
    dropped = [activity_id for activity_id, status, _term in rows if status != "approved"]
    kept_terms = sorted({term for _id, status, term in rows if status == "approved"})
    if kept:
        publicpages.changed(db)  # their activities on the wall are now by a former ambassador
    keys: list[str] = []
    if dropped:
        keys = list(
            (await db.execute(select(ActivityPhoto.key).where(ActivityPhoto.activity_id.in_(dropped)))).scalars()
        )
        await db.execute(delete(ActivityPhoto).where(ActivityPhoto.activity_id.in_(dropped)))
        await db.execute(delete(Activity).where(Activity.id.in_(dropped)))
    if kept:
        await db.execute(
            update(Activity)
            .where(Activity.id.in_(kept))
            # The first kept term's id: a number that tells this former ambassador from others, and no one's id.
            .values(person_id=None, former_ambassador_key=kept_terms[0], review_comment=None)
            .execution_options(synchronize_session=False)
        )
        # The terms end today at the latest: no one is left to be reminded or to log anything.
        today = club_today()
        await db.execute(
            update(Appointment)
            .where(Appointment.id.in_(kept_terms), Appointment.ended_on.is_(None))
            .values(ended_on=Appointment.ends_on)
            .execution_options(synchronize_session=False)
        )
        await db.execute(
            update(Appointment)
            .where(Appointment.id.in_(kept_terms), Appointment.ended_on > today)
            .values(ended_on=today)
            .execution_options(synchronize_session=False)
        )
        await db.execute(
            update(Appointment)
            .where(Appointment.id.in_(kept_terms))
            .values(person_id=None, reminded_at=None)
            .execution_options(synchronize_session=False)
        )
    await db.execute(delete(Appointment).where(Appointment.person_id == person.id))
    await db.execute(delete(Ambassador).where(Ambassador.person_id == person.id))
    return keys


async def erasure_outcome(db: AsyncSession, person_id: int) -> tuple[int, int]:
    """What erasing a person would do to their activities: (approved ones that stay, others that go)."""
    rows = (
        await db.execute(
            select(Activity.status, func.count()).where(Activity.person_id == person_id).group_by(Activity.status)
        )
    ).all()
    approved = sum(int(n) for status, n in rows if status == "approved")
    return approved, sum(int(n) for _status, n in rows) - approved
