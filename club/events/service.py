"""Events: create and change them, invite an audience, record answers against the capacity with a waiting list,
tickets and check-in, reminders, and what a member's export and erasure need."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from club import publicpages
from club.accounts.models import Person
from club.config import Settings
from club.db import utcnow
from club.events import ics
from club.events.models import Answer, Event, EventStatus, Rsvp
from club.i18n import LANGUAGES, N_, _, use_language
from club.mail.outbox import Recipient, attach, queue_mail, queue_newsletter
from club.mail.render import render_mail
from club.newsletters import audience as audiences

# The most guests anyone may bring, whatever an admin types.
GUEST_LIMIT = 20


class EventError(Exception):
    """Something a person asked that cannot be done; `message` is shown to them, translated where shown."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---- reading ---------------------------------------------------------------------------------------------------


async def get(db: AsyncSession, event_id: int) -> Event | None:
    return await db.get(Event, event_id)


async def all_events(db: AsyncSession) -> list[Event]:
    return list((await db.execute(select(Event).order_by(Event.starts_at.desc()))).scalars())


def _public() -> Select[Event]:
    return select(Event).where(Event.public.is_(True), Event.status.in_((EventStatus.PUBLISHED, EventStatus.CANCELLED)))


async def upcoming_public(db: AsyncSession, *, now: dt.datetime | None = None, limit: int = 50) -> list[Event]:
    now = now or utcnow()
    rows = await db.execute(_public().where(Event.ends_at >= now).order_by(Event.starts_at).limit(limit))
    return list(rows.scalars())


async def past_public(db: AsyncSession, *, now: dt.datetime | None = None, limit: int = 50) -> list[Event]:
    now = now or utcnow()
    rows = await db.execute(_public().where(Event.ends_at < now).order_by(Event.starts_at.desc()).limit(limit))
    return list(rows.scalars())


async def next_public(db: AsyncSession) -> Event | None:
    rows = await db.execute(
        _public()
        .where(Event.status == EventStatus.PUBLISHED, Event.starts_at >= utcnow())
        .order_by(Event.starts_at)
        .limit(1)
    )
    return rows.scalar_one_or_none()


@dataclass(frozen=True)
class Counts:
    yes: int  # answers with a seat
    seats: int  # seats they take, guests included
    waiting: int
    no: int
    arrived: int  # people checked in, guests included

    def free(self, capacity: int | None) -> int | None:
        return None if capacity is None else max(capacity - self.seats, 0)


async def counts(db: AsyncSession, event_id: int) -> Counts:
    seats = 1 + Rsvp.guests
    row = (
        await db.execute(
            select(
                func.count().filter(Rsvp.status == Answer.YES),
                func.coalesce(func.sum(case((Rsvp.status == Answer.YES, seats), else_=0)), 0),
                func.count().filter(Rsvp.status == Answer.WAITING),
                func.count().filter(Rsvp.status == Answer.NO),
                func.coalesce(func.sum(case((Rsvp.checked_in_at.is_not(None), seats), else_=0)), 0),
            ).where(Rsvp.event_id == event_id)
        )
    ).one()
    return Counts(*(int(value) for value in row))


async def rsvp_of(db: AsyncSession, event_id: int, person_id: int) -> Rsvp | None:
    rows = await db.execute(select(Rsvp).where(Rsvp.event_id == event_id, Rsvp.person_id == person_id))
    return rows.scalar_one_or_none()


async def rsvps(db: AsyncSession, event_id: int, *, search: str = "") -> list[Rsvp]:
    statement = select(Rsvp).where(Rsvp.event_id == event_id, Rsvp.status.in_((Answer.YES, Answer.WAITING)))
    if search:
        statement = statement.where(func.lower(Rsvp.name).contains(search.lower().strip()))
    order = case((Rsvp.status == Answer.YES, 0), else_=1)
    rows = await db.execute(statement.order_by(order, Rsvp.waitlisted_at, Rsvp.name, Rsvp.id).limit(500))
    return list(rows.scalars())


async def tickets_of(db: AsyncSession, person_id: int) -> list[tuple[Rsvp, Event]]:
    rows = await db.execute(
        select(Rsvp, Event)
        .join(Event, Event.id == Rsvp.event_id)
        .where(Rsvp.person_id == person_id, Event.ends_at >= utcnow() - dt.timedelta(days=1))
        .order_by(Event.starts_at)
    )
    return [(rsvp, event) for rsvp, event in rows]


# ---- changing events -------------------------------------------------------------------------------------------


@dataclass
class EventInput:
    titles: dict[str, str]
    descriptions: dict[str, str]
    fallback: str
    zone: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    rsvp_deadline: dt.datetime | None
    venue: str
    address: str
    capacity: int | None
    max_guests: int
    question: str
    public: bool
    audience: audiences.Audience
    reminder_days: int


def _apply(event: Event, data: EventInput) -> None:
    for language in LANGUAGES:
        setattr(event, f"title_{language}", data.titles.get(language, ""))
        setattr(event, f"description_{language}", data.descriptions.get(language, ""))
    event.fallback = data.fallback
    event.zone = data.zone
    event.starts_at, event.ends_at, event.rsvp_deadline = data.starts_at, data.ends_at, data.rsvp_deadline
    event.venue, event.address = data.venue, data.address
    event.capacity, event.max_guests, event.question = data.capacity, data.max_guests, data.question
    event.public, event.audience, event.reminder_days = data.public, data.audience.to_json(), data.reminder_days


async def create(db: AsyncSession, data: EventInput) -> Event:
    event = Event(
        uid=f"{secrets.token_hex(12)}@events.ghent-kanazawa",
        status=EventStatus.DRAFT,
        sequence=0,
        invited=0,
        answers_version=0,
    )
    _apply(event, data)
    db.add(event)
    await db.flush()
    return event


async def change(db: AsyncSession, settings: Settings, event: Event, data: EventInput) -> int:
    """Save an event; when its time or place changed, raise its SEQUENCE and mail those who said yes.
    Returns how many were told. A larger capacity lets the waiting list in."""
    before = (event.starts_at, event.ends_at, event.venue, event.address, event.zone)
    _apply(event, data)
    publicpages.changed(db)
    told = 0
    if before != (event.starts_at, event.ends_at, event.venue, event.address, event.zone):
        event.sequence += 1
        if event.status == EventStatus.PUBLISHED:
            told = await _mail_answers(db, settings, event, (Answer.YES,), "update")
    await db.flush()
    if event.status == EventStatus.PUBLISHED:
        await _promote(db, settings, event)
    return told


async def publish(db: AsyncSession, event: Event) -> None:
    if event.status != EventStatus.DRAFT:
        raise EventError("Only a draft can be published.")
    event.status = EventStatus.PUBLISHED
    await db.flush()
    publicpages.changed(db)


async def cancel(db: AsyncSession, settings: Settings, event: Event) -> int:
    """Cancel: everyone who said yes gets a mail in their language with a cancelling .ics. Returns how many."""
    if event.status == EventStatus.CANCELLED:
        raise EventError("This event has been cancelled.")
    was_published = event.status == EventStatus.PUBLISHED
    event.status = EventStatus.CANCELLED
    event.sequence += 1
    await db.flush()
    publicpages.changed(db)
    return await _mail_answers(db, settings, event, (Answer.YES,), "cancelled") if was_published else 0


# ---- mail ------------------------------------------------------------------------------------------------------


def event_url(settings: Settings, event: Event) -> str:
    return settings.absolute_url(f"/events/{event.id}")


def rsvp_token(settings: Settings, event_id: int, person_id: int) -> str:
    message = f"rsvp:{event_id}:{person_id}".encode()
    return hmac.new(settings.secret_key.get_secret_value().encode(), message, hashlib.sha256).hexdigest()[:32]


def rsvp_url(settings: Settings, event_id: int, person_id: int) -> str:
    return settings.absolute_url(f"/events/{event_id}/rsvp/{person_id}/{rsvp_token(settings, event_id, person_id)}")


def check_token(settings: Settings, event_id: int, person_id: int, token: str) -> bool:
    return hmac.compare_digest(rsvp_token(settings, event_id, person_id).encode(), token.encode()[:64])


def times_of(event: Event) -> dict[str, dt.datetime]:
    return {
        "ghent_start": event.starts_at.astimezone(ZoneInfo("Europe/Brussels")),
        "kanazawa_start": event.starts_at.astimezone(ZoneInfo("Asia/Tokyo")),
    }


SUBJECTS = {
    "invitation": N_("Invitation: %(title)s"),
    "update": N_("Changed: %(title)s"),
    "cancelled": N_("Cancelled: %(title)s"),
    "confirmed": N_("Your ticket: %(title)s"),
    "waiting": N_("On the waiting list: %(title)s"),
    "promoted": N_("A seat for you: %(title)s"),
    "reminder": N_("Reminder: %(title)s"),
}
# A mail to many stores its bodies once per language; the outbox puts each member's answer link in its place.
LINK = "%%link%%"


def _language(language: str) -> str:
    return language if language in LANGUAGES else "en"


def _render(
    settings: Settings, event: Event, name: str, language: str, rsvp: str, ticket: Rsvp | None = None
) -> tuple[str, str, str]:
    """Subject, text and HTML of one kind of event mail (templates/events/mail/mail.*) in a language."""
    with use_language(language) as lang:
        subject = _(SUBJECTS[name], title=event.title(lang))
    text, html = render_mail(
        "events/mail/mail",
        language,
        subject=subject,
        title=event.title(language),
        kind=name,
        event=event,
        event_url=event_url(settings, event),
        rsvp_url=rsvp,
        yes_url=f"{rsvp}?answer=yes",
        no_url=f"{rsvp}?answer=no",
        ticket=ticket,
        ticket_url=ticket_url(settings, ticket) if ticket else None,
    )
    return subject, text, html


async def _attach_calendar(
    db: AsyncSession, settings: Settings, event: Event, name: str, mail_id: int, language: str
) -> None:
    """The .ics every copy in a language shares (nothing in it is personal): METHOD:CANCEL or REQUEST."""
    method = "CANCEL" if name == "cancelled" else "REQUEST"
    await attach(
        db,
        mail_id,
        filename="event.ics",
        content_type=f"text/calendar; charset=utf-8; method={method}",
        content=ics.invitation(
            event, language, event_url(settings, event), _organizer(settings), cancelled=method == "CANCEL"
        ),
    )


async def _send(
    db: AsyncSession, settings: Settings, event: Event, name: str, person: Person, *, ticket: Rsvp | None = None
) -> None:
    """One person's mail about their own answer; with a ticket it carries the ticket and the .ics."""
    language = _language(person.language)
    subject, text, html = _render(settings, event, name, language, rsvp_url(settings, event.id, person.id), ticket)
    delivery = await queue_mail(
        db,
        to_email=person.email,
        to_name=person.name,
        subject=subject,
        text=text,
        html=html,
        language=language,
        kind=f"event-{name}",
        person_id=person.id,
    )
    if ticket is not None:
        await _attach_calendar(db, settings, event, name, delivery.mail_id, language)


async def _send_to_many(db: AsyncSession, settings: Settings, event: Event, name: str, people: Iterable[Any]) -> int:
    """One mail per language for (id, email, name, language) rows, through the outbox like a newsletter: each
    delivery only adds its member's answer link. Returns how many were queued."""
    groups: dict[str, list[Recipient]] = {}
    for person_id, email, person_name, language in people:
        link = rsvp_url(settings, event.id, person_id)
        groups.setdefault(_language(language), []).append(Recipient(email, person_name, person_id, link=link))
    queued = 0
    for language, recipients in groups.items():
        subject, text, html = _render(settings, event, name, language, LINK)
        mail, count = await queue_newsletter(
            db,
            subject=subject,
            text=text,
            html=html,
            language=language,
            recipients=recipients,
            reference=f"event:{event.id}",
            kind=f"event-{name}",
            bulk=False,
        )
        await _attach_calendar(db, settings, event, name, mail.id, language)
        queued += count
    return queued


def _organizer(settings: Settings) -> str:
    return parseaddr(settings.mail_from)[1] or "club@localhost"


async def _mail_answers(
    db: AsyncSession, settings: Settings, event: Event, statuses: tuple[str, ...], name: str
) -> int:
    rows = await db.execute(
        select(Person.id, Person.email, Person.name, Person.language)
        .join(Rsvp, Rsvp.person_id == Person.id)
        .where(Rsvp.event_id == event.id, Rsvp.status.in_(statuses), Person.suppressed_at.is_(None))
    )
    return await _send_to_many(db, settings, event, name, rows)


async def invite(db: AsyncSession, settings: Settings, event: Event) -> int:
    """Queue an invitation to everyone in the event's audience (newsletters' audience rules), each in their
    language with the .ics and their own answer links. Returns how many were queued."""
    if event.status != EventStatus.PUBLISHED:
        raise EventError("Publish the event before inviting.")
    audience = audiences.Audience.from_json(event.audience)
    rows = await db.execute(audiences.members(audience).order_by(Person.id))
    queued = await _send_to_many(db, settings, event, "invitation", rows)
    event.invited_at = utcnow()
    event.invited += queued
    await db.flush()
    return queued


# ---- answers ---------------------------------------------------------------------------------------------------


def _check_open(event: Event, now: dt.datetime) -> None:
    if event.status == EventStatus.CANCELLED:
        raise EventError("This event has been cancelled.")
    if event.status != EventStatus.PUBLISHED:
        raise EventError("This event is not open for answers.")
    if event.rsvp_deadline is not None and now > event.rsvp_deadline:
        raise EventError("The deadline for answers has passed.")
    if now > event.starts_at:
        raise EventError("The deadline for answers has passed.")


async def _lock(db: AsyncSession, event: Event) -> None:
    """Take the event's row for this transaction before counting seats: a second answer for the last seat
    waits here until the first is committed, then counts it."""
    await db.execute(
        update(Event)
        .where(Event.id == event.id)
        .values(answers_version=Event.answers_version + 1)
        .execution_options(synchronize_session=False)
    )


async def _seats_taken(db: AsyncSession, event_id: int, *, besides: int | None = None) -> int:
    statement = select(func.coalesce(func.sum(1 + Rsvp.guests), 0)).where(
        Rsvp.event_id == event_id, Rsvp.status == Answer.YES
    )
    if besides is not None:
        statement = statement.where(Rsvp.id != besides)
    return int((await db.execute(statement)).scalar_one())


async def answer(
    db: AsyncSession,
    settings: Settings,
    event: Event,
    person: Person,
    *,
    coming: bool,
    guests: int = 0,
    note: str = "",
    now: dt.datetime | None = None,
) -> Rsvp:
    """Record a person's answer. A yes gets a seat while there is room, else a place on the waiting list; a no
    (or a cancelled yes) frees the seat for the first in line, who is mailed. The confirmation mail carries the
    ticket. Raises EventError (nothing changed) when the event is closed or the guests are too many."""
    publicpages.changed(db)  # the seats left, on the event's page
    now = now or utcnow()
    _check_open(event, now)
    if not 0 <= guests <= min(event.max_guests, GUEST_LIMIT):
        raise EventError("Too many guests.")
    await _lock(db, event)
    rsvp = await rsvp_of(db, event.id, person.id)
    before = rsvp.status if rsvp else None
    if rsvp is None:
        rsvp = Rsvp(
            event_id=event.id,
            person_id=person.id,
            ticket=secrets.token_urlsafe(18),
            guests=0,
            answer="",
            walk_in=False,
            status=Answer.NO,
            name=person.name,
        )
        db.add(rsvp)
    rsvp.name, rsvp.answer = person.name, note[:1000]
    if not coming:
        rsvp.status, rsvp.guests, rsvp.waitlisted_at = Answer.NO, 0, None
        await db.flush()
        if before == Answer.YES:
            await _promote(db, settings, event)
        return rsvp
    if before == Answer.YES:
        if (
            event.capacity is not None
            and await _seats_taken(db, event.id, besides=rsvp.id) + 1 + guests > event.capacity
        ):
            raise EventError("Not enough seats left for that many guests.")
        changed = rsvp.guests != guests
        rsvp.guests = guests
        await db.flush()
        if changed:
            await _promote(db, settings, event)
        return rsvp
    rsvp.guests = guests
    if event.capacity is None or await _seats_taken(db, event.id) + 1 + guests <= event.capacity:
        rsvp.status, rsvp.waitlisted_at = Answer.YES, None
        await db.flush()
        await _send(db, settings, event, "confirmed", person, ticket=rsvp)
    else:
        if before != Answer.WAITING:
            rsvp.status, rsvp.waitlisted_at = Answer.WAITING, now
            await db.flush()
            await _send(db, settings, event, "waiting", person)
        await db.flush()
    return rsvp


async def _promote(db: AsyncSession, settings: Settings, event: Event) -> int:
    """Give freed seats to the waiting list, first come first served; each promoted person is mailed."""
    if event.status != EventStatus.PUBLISHED:
        return 0
    promoted = 0
    rows = await db.execute(
        select(Rsvp)
        .where(Rsvp.event_id == event.id, Rsvp.status == Answer.WAITING)
        .order_by(Rsvp.waitlisted_at, Rsvp.id)
    )
    for rsvp in rows.scalars():
        taken = await _seats_taken(db, event.id)
        if event.capacity is not None and taken + 1 + rsvp.guests > event.capacity:
            break
        rsvp.status, rsvp.waitlisted_at = Answer.YES, None
        await db.flush()
        promoted += 1
        person = await db.get(Person, rsvp.person_id) if rsvp.person_id else None
        if person is not None:
            await _send(db, settings, event, "promoted", person, ticket=rsvp)
    return promoted


def ticket_url(settings: Settings, rsvp: Rsvp) -> str:
    return settings.absolute_url(f"/events/{rsvp.event_id}/ticket/{rsvp.ticket}")


async def ticket(db: AsyncSession, event_id: int, code: str) -> Rsvp | None:
    rows = await db.execute(select(Rsvp).where(Rsvp.ticket == code[:40]))
    rsvp = rows.scalar_one_or_none()
    return rsvp if rsvp is not None and rsvp.event_id == event_id else None


# ---- check-in --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckIn:
    outcome: str  # arrived, again, unknown, not-coming
    rsvp: Rsvp | None


def ticket_code(scanned: str) -> str:
    """A scanned QR holds the ticket's URL; a typed code is the ticket itself."""
    return scanned.strip().rstrip("/").rsplit("/", 1)[-1][:40]


async def check_in(
    db: AsyncSession, event: Event, by: Person, *, code: str | None = None, rsvp_id: int | None = None
) -> CheckIn:
    if code is not None:
        rows = await db.execute(select(Rsvp).where(Rsvp.ticket == ticket_code(code)))
    else:
        rows = await db.execute(select(Rsvp).where(Rsvp.id == rsvp_id))
    rsvp = rows.scalar_one_or_none()
    if rsvp is None or rsvp.event_id != event.id:
        return CheckIn("unknown", None)
    if rsvp.status != Answer.YES:
        return CheckIn("not-coming", rsvp)
    # One statement decides, so two door phones scanning the same ticket cannot both say "welcome".
    result = await db.execute(
        update(Rsvp)
        .where(Rsvp.id == rsvp.id, Rsvp.checked_in_at.is_(None))
        .values(checked_in_at=utcnow(), checked_in_by_id=by.id)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 0:
        return CheckIn("again", rsvp)
    await db.refresh(rsvp)
    return CheckIn("arrived", rsvp)


async def walk_in(db: AsyncSession, event: Event, by: Person, *, name: str, guests: int) -> Rsvp:
    publicpages.changed(db)  # the seats left, on the event's page
    name = " ".join(name.split())[:200]
    if not name:
        raise EventError("Please fill in a name.")
    if not 0 <= guests <= GUEST_LIMIT:
        raise EventError("Too many guests.")
    rsvp = Rsvp(
        event_id=event.id,
        person_id=None,
        name=name,
        status=Answer.YES,
        guests=guests,
        answer="",
        ticket=secrets.token_urlsafe(18),
        walk_in=True,
        checked_in_at=utcnow(),
        checked_in_by_id=by.id,
    )
    db.add(rsvp)
    await db.flush()
    return rsvp


# ---- reminders -------------------------------------------------------------------------------------------------


async def send_reminders(db: AsyncSession, settings: Settings, *, now: dt.datetime | None = None) -> int:
    """Remind those who said yes, reminder_days before each published event that has not been reminded."""
    now = now or utcnow()
    rows = await db.execute(
        select(Event).where(
            Event.status == EventStatus.PUBLISHED,
            Event.reminded_at.is_(None),
            Event.starts_at > now,
            Event.reminder_days > 0,
        )
    )
    told = 0
    for event in rows.scalars():
        if event.starts_at - dt.timedelta(days=event.reminder_days) > now:
            continue
        event.reminded_at = now
        told += await _mail_answers(db, settings, event, (Answer.YES,), "reminder")
    await db.flush()
    return told


# ---- the year's numbers, privacy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attendance:
    event: Event
    expected: int
    arrived: int


async def attendance_in_year(db: AsyncSession, year: int) -> list[Attendance]:
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    events = (
        await db.execute(
            select(Event)
            .where(Event.status == EventStatus.PUBLISHED, Event.starts_at >= start, Event.starts_at < end)
            .order_by(Event.starts_at)
        )
    ).scalars()
    result = []
    for event in events:
        numbers = await counts(db, event.id)
        result.append(Attendance(event, numbers.seats, numbers.arrived))
    return result


async def export_for(db: AsyncSession, person_id: int) -> list[dict[str, Any]]:
    """A member's answers and attendance, for their data export."""
    rows = await db.execute(
        select(Rsvp, Event)
        .join(Event, Event.id == Rsvp.event_id)
        .where(Rsvp.person_id == person_id)
        .order_by(Event.starts_at)
    )
    return [
        {
            "event": event.title("en") or event.title("nl") or event.title("ja"),
            "starts_at": event.starts_at.isoformat(),
            "answer": rsvp.status,
            "guests": rsvp.guests,
            "note": rsvp.answer,
            "answered_at": rsvp.created_at.isoformat(),
            "checked_in_at": rsvp.checked_in_at.isoformat() if rsvp.checked_in_at else None,
        }
        for rsvp, event in rows
    ]


async def erase_for(db: AsyncSession, settings: Settings, person_id: int) -> None:
    """Erasure: future answers are withdrawn (their seats go to the waiting list); past ones keep only their
    numbers (anonymous: no person, no name, no note)."""
    now = utcnow()
    publicpages.changed(db)
    rows = await db.execute(
        select(Rsvp, Event).join(Event, Event.id == Rsvp.event_id).where(Rsvp.person_id == person_id)
    )
    to_promote: list[Event] = []
    for rsvp, event in rows:
        if event.ends_at >= now:
            was_yes = rsvp.status == Answer.YES
            await db.delete(rsvp)
            if was_yes:
                to_promote.append(event)
        else:
            rsvp.person_id, rsvp.name, rsvp.answer, rsvp.checked_in_by_id = None, "", "", None
    await db.flush()
    for event in to_promote:
        await _promote(db, settings, event)


# ---- visitors who join and answer at once ----------------------------------------------------------------------


async def hold_answer(db: AsyncSession, event: Event, person: Person, *, guests: int, note: str) -> None:
    """A visitor who joined from the event's page: their yes waits (status pending, no seat) until they confirm
    their address; confirm_pending then answers for them."""
    _check_open(event, utcnow())
    if not 0 <= guests <= min(event.max_guests, GUEST_LIMIT):
        raise EventError("Too many guests.")
    rsvp = await rsvp_of(db, event.id, person.id)
    if rsvp is None:
        db.add(
            Rsvp(
                event_id=event.id,
                person_id=person.id,
                name=person.name,
                status=Answer.PENDING,
                guests=guests,
                answer=note[:1000],
                ticket=secrets.token_urlsafe(18),
                walk_in=False,
            )
        )
    elif rsvp.status == Answer.PENDING:
        rsvp.guests, rsvp.answer = guests, note[:1000]
    await db.flush()


async def confirm_pending(db: AsyncSession, settings: Settings, person: Person) -> None:
    """Called when a member confirms their address: their waiting answers are recorded now, against the seats
    left (a full event puts them on the waiting list; a closed one drops them)."""
    rows = await db.execute(
        select(Rsvp, Event)
        .join(Event, Event.id == Rsvp.event_id)
        .where(Rsvp.person_id == person.id, Rsvp.status == Answer.PENDING)
    )
    for rsvp, event in list(rows):
        guests, note = rsvp.guests, rsvp.answer
        rsvp.status = Answer.NO
        await db.flush()
        try:
            await answer(db, settings, event, person, coming=True, guests=guests, note=note)
        except EventError:
            continue


async def choices_for_activities(db: AsyncSession, language: str) -> list[tuple[int, str]]:
    """Events an ambassador may link an activity to: published ones of the last year and the next months."""
    now = utcnow()
    rows = await db.execute(
        select(Event)
        .where(
            Event.status == EventStatus.PUBLISHED,
            Event.starts_at >= now - dt.timedelta(days=365),
            Event.starts_at <= now + dt.timedelta(days=180),
        )
        .order_by(Event.starts_at.desc())
        .limit(100)
    )
    from club.i18n import format_date

    return [(event.id, f"{event.title(language)} ({format_date(event.starts_at)})") for event in rows.scalars()]
