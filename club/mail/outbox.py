"""The outbox's API: what other features call, inside their own transaction (the request's), never committing.

A signup and its confirmation mail commit together or not at all; the sender picks the mail up after the commit.
Bodies may use the placeholders %%name%%, %%email%%, %%unsubscribe_url%% and %%link%%, filled per recipient.

Only this module and the sender write delivery rows. A feature finds its own mail by the `reference` it queued it
with ("newsletter:12"): it can hold and release it, cancel it, retry what failed and count it by state; a member's
waiting mail can be cancelled and their deliveries made anonymous. Every state is a `DeliveryStatus`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, case, distinct, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from club import email_address
from club.db import is_postgres, utcnow
from club.mail.message import Address, check_header_value
from club.mail.models import PRIORITY_BULK, PRIORITY_TRANSACTIONAL, WAITING, Attachment, Delivery, DeliveryStatus, Mail

# Why a delivery did not go although nothing was tried: the sender writes these too, and reports tell them apart.
UNSUBSCRIBED = "unsubscribed before sending"
ERASED = "recipient erased"
SUPPRESSED = "address suppressed before sending"

# Rows per INSERT statement when queuing a newsletter: large enough to be fast, small enough for any driver.
INSERT_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    name: str = ""
    person_id: int | None = None
    unsubscribe_url: str | None = None
    link: str | None = None  # fills %%link%%: the recipient's own link in a mail to many (an invitation's answer page)


def _check(subject: str, language: str) -> None:
    check_header_value(subject, "subject")
    if not (0 < len(language) <= 2):
        raise ValueError(f"language must be a two-letter code, not {language!r}")


async def _store_mail(
    db: AsyncSession,
    *,
    kind: str,
    bulk: bool,
    priority: int,
    subject: str,
    text: str,
    html: str,
    language: str,
    reference: str | None = None,
) -> Mail:
    """The content of a mail, stored once for all its deliveries; a mail to many waits behind transactional mail."""
    _check(subject, language)
    mail = Mail(
        kind=kind,
        priority=priority,
        language=language,
        subject=subject,
        text=text,
        html=html,
        bulk=bulk,
        reference=reference,
        token=secrets.token_hex(8),
    )
    db.add(mail)
    await db.flush()
    return mail


async def queue_mail(
    db: AsyncSession,
    *,
    to_email: str,
    to_name: str,
    subject: str,
    text: str,
    html: str,
    language: str,
    kind: str = "transactional",
    person_id: int | None = None,
) -> Delivery:
    """Queue one transactional mail; it goes ahead of newsletters and leaves within a second of the commit.

    Raises ValueError for an address or subject that cannot be sent (CR/LF, not an address): the forms check
    addresses by the same rule (club/email_address.py), so what they accept is never refused here."""
    to_email = email_address.for_sending(to_email)
    Address(to_email, to_name)
    mail = await _store_mail(
        db,
        kind=kind,
        bulk=False,
        priority=PRIORITY_TRANSACTIONAL,
        subject=subject,
        text=text,
        html=html,
        language=language,
    )
    delivery = Delivery(
        mail_id=mail.id,
        to_email=to_email,
        to_name=" ".join(to_name.split()),
        person_id=person_id,
        priority=PRIORITY_TRANSACTIONAL,
        status=DeliveryStatus.QUEUED,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.add(delivery)
    await db.flush()
    return delivery


async def queue_newsletter(
    db: AsyncSession,
    *,
    subject: str,
    text: str,
    html: str,
    language: str,
    recipients: Iterable[Recipient],
    reference: str | None = None,
    kind: str = "newsletter",
    bulk: bool = True,
) -> tuple[Mail, int]:
    """Store a newsletter's content once and one delivery per recipient (each needs an https unsubscribe_url).

    Call it once per language. Recipients with an address we cannot send to are skipped; the number queued is
    returned with the mail. Leaving out suppressed people (`people.suppressed_at`) is the caller's job.
    Not `bulk`: a feature's mail to many that is no newsletter (an event's invitations), without List-Unsubscribe
    and unsubscribe links; it waits behind transactional mail all the same."""
    mail = await _store_mail(
        db,
        kind=kind,
        bulk=bulk,
        priority=PRIORITY_BULK,
        subject=subject,
        text=text,
        html=html,
        language=language,
        reference=reference,
    )
    now = utcnow()
    table = cast(Table, Delivery.__table__)
    rows: list[dict[str, object]] = []
    queued = 0
    for recipient in recipients:
        try:
            # Stored addresses passed the rule when typed; only an international domain needs its wire form.
            wire = recipient.email if recipient.email.isascii() else email_address.for_sending(recipient.email)
            address = Address(wire, recipient.name)
        except ValueError:
            continue
        if bulk and not (recipient.unsubscribe_url or "").startswith(("https://", "http://")):
            raise ValueError(f"every newsletter delivery needs an unsubscribe link ({recipient.email})")
        rows.append(
            {
                "mail_id": mail.id,
                "person_id": recipient.person_id,
                "to_email": address.email,
                "to_name": address.name,
                "unsubscribe_url": recipient.unsubscribe_url,
                "link": recipient.link,
                "priority": PRIORITY_BULK,
                "status": DeliveryStatus.QUEUED.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
        if len(rows) >= INSERT_CHUNK:
            await db.execute(insert(table), rows)
            queued += len(rows)
            rows = []
    if rows:
        await db.execute(insert(table), rows)
        queued += len(rows)
    return mail, queued


# ---- a feature's own mail, by reference ---------------------------------------------------------------------------


def _of(reference: str) -> ColumnElement[bool]:
    return Delivery.mail_id.in_(select(Mail.id).where(Mail.reference == reference).scalar_subquery())


async def _move(db: AsyncSession, where: ColumnElement[bool], **values: Any) -> int:
    if is_postgres(db):
        # Lock in id order, as the sender marks its sent rows: two UPDATEs taking the same rows in different orders
        # deadlock (a Cancel during a send did).
        where = Delivery.id.in_(
            select(Delivery.id).where(where).order_by(Delivery.id).with_for_update().scalar_subquery()
        )
    result = await db.execute(
        update(Delivery).where(where).values(**values).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def hold(db: AsyncSession, reference: str) -> int:
    """Keep every delivery of `reference` not sent yet from leaving, those a sender has claimed included: the sender
    asks right before each message's content goes, so after the commit only a message already inside its SMTP
    transaction leaves (at most one per connection; `StateCounts.after_stop` counts them)."""
    return await _move(
        db,
        and_(_of(reference), Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING))),
        status=DeliveryStatus.PAUSED,
    )


async def release(db: AsyncSession, reference: str, *, to: Select[Any], others: str = UNSUBSCRIBED) -> int:
    """Let held deliveries go again, to the people whose ids `to` selects; the others' fail with `others`
    (nothing was tried). Returns how many go."""
    held = and_(_of(reference), Delivery.status == DeliveryStatus.PAUSED)
    released = await _move(
        db, and_(held, Delivery.person_id.in_(to)), status=DeliveryStatus.QUEUED, next_attempt_at=utcnow()
    )
    await _move(db, held, status=DeliveryStatus.FAILED, last_error=others)
    return released


async def cancel(db: AsyncSession, reference: str) -> int:
    """Nothing of `reference` still waiting leaves (claimed deliveries included, see `hold`)."""
    return await _move(db, and_(_of(reference), Delivery.status.in_(WAITING)), status=DeliveryStatus.CANCELLED)


# What a retry leaves alone: deliveries that must not go (the member left or was erased before it did).
NOT_RETRIED = (UNSUBSCRIBED, ERASED, SUPPRESSED)


async def retry_failed(db: AsyncSession, reference: str, *, held: bool = False) -> int:
    """Queue the failed deliveries of `reference` again (or hold them, `held`), except those that must not go;
    the sender still skips members who have since unsubscribed or been suppressed. Returns how many."""
    return await _move(
        db,
        and_(
            _of(reference),
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.last_error.not_in(NOT_RETRIED) | Delivery.last_error.is_(None),
        ),
        status=DeliveryStatus.PAUSED if held else DeliveryStatus.QUEUED,
        attempts=0,
        next_attempt_at=utcnow(),
        claimed_by=None,
        lease_until=None,
        smtp_code=None,
        last_error=None,
    )


@dataclass(frozen=True)
class StateCounts:
    """A reference's deliveries by state; `unsubscribed` are failed ones that never went because the member left
    (not counted in `failed`), `after_stop` sent ones that left after a hold or cancel."""

    counts: dict[DeliveryStatus, int]
    unsubscribed: int
    after_stop: int

    def __getitem__(self, status: DeliveryStatus) -> int:
        return self.counts.get(status, 0)

    @property
    def waiting(self) -> int:
        return sum(self[status] for status in WAITING)

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.unsubscribed


async def count_by_state(db: AsyncSession, reference: str) -> StateCounts:
    unsubscribed = and_(Delivery.status == DeliveryStatus.FAILED, Delivery.last_error == UNSUBSCRIBED)
    state = case((unsubscribed, "unsubscribed"), else_=Delivery.status)
    rows = await db.execute(
        select(state, func.count(), func.sum(case((Delivery.after_stop.is_(True), 1), else_=0)))
        .where(_of(reference))
        .group_by(state)
    )
    counts: dict[DeliveryStatus, int] = {}
    left, after_stop = 0, 0
    for key, count, late in rows.all():
        after_stop += int(late or 0)
        if key == "unsubscribed":
            left = int(count)
        else:
            counts[DeliveryStatus(key)] = int(count)
    return StateCounts(counts, left, after_stop)


async def failures(db: AsyncSession, reference: str, limit: int = 200) -> list[Delivery]:
    """Failed deliveries of `reference` that were tried (not those that never went because the member left)."""
    statement = (
        select(Delivery)
        .where(_of(reference), Delivery.status == DeliveryStatus.FAILED, Delivery.last_error != UNSUBSCRIBED)
        .order_by(Delivery.id)
        .limit(limit)
    )
    return list((await db.execute(statement)).scalars())


async def deliveries_of(db: AsyncSession, reference: str) -> Sequence[Any]:
    """Every delivery of `reference` in the order queued: address, name, language, state, attempts, the relay's
    code and reply, when sent."""
    rows = await db.execute(
        select(
            Delivery.to_email,
            Delivery.to_name,
            Mail.language,
            Delivery.status,
            Delivery.attempts,
            Delivery.smtp_code,
            Delivery.last_error,
            Delivery.sent_at,
        )
        .join(Mail, Mail.id == Delivery.mail_id)
        .where(Mail.reference == reference)
        .order_by(Delivery.id)
    )
    return rows.all()


async def count_reached_before(db: AsyncSession, reference: str, moments: Select[int, dt.datetime]) -> int:
    """How many people of `moments` (person id, when) had that moment after `reference` reached them and before
    any other newsletter did: the unsubscribes a newsletter caused, say."""
    happened = moments.subquery()
    person, when = list(happened.c)[:2]
    later, later_mail = aliased(Delivery), aliased(Mail)
    statement = (
        select(func.count(distinct(person)))
        .select_from(happened)
        .join(Delivery, Delivery.person_id == person)
        .where(
            _of(reference),
            Delivery.sent_at.is_not(None),
            when >= Delivery.sent_at,
            ~exists(
                select(later.id)
                .join(later_mail, later_mail.id == later.mail_id)
                .where(
                    later.person_id == person,
                    later_mail.bulk.is_(True),
                    later_mail.reference != reference,
                    later.sent_at > Delivery.sent_at,
                    later.sent_at <= when,
                )
            ),
        )
    )
    return int(await db.scalar(statement) or 0)


# ---- a person's mail ------------------------------------------------------------------------------------------


async def cancel_waiting(
    db: AsyncSession, person_id: int, *, reason: str = UNSUBSCRIBED, bulk_only: bool = True
) -> int:
    """Take a person out of the mail still waiting for its first attempt or a retry (newsletters only, unless not
    `bulk_only`), the next batch included: those deliveries fail with `reason`."""
    where = and_(Delivery.person_id == person_id, Delivery.status == DeliveryStatus.QUEUED)
    if bulk_only:
        # By the mail's kind, not its priority: an event's invitations wait behind transactional mail too.
        where = and_(where, exists().where(Mail.id == Delivery.mail_id, Mail.bulk.is_(True)))
    return await _move(db, where, status=DeliveryStatus.FAILED, last_error=reason)


async def deliveries_to(
    db: AsyncSession, person_id: int, *, email: str | None = None, newest_first: bool = False, limit: int | None = None
) -> list[tuple[Delivery, Mail]]:
    """A person's mail (also what was sent to their address before they had an account, when `email` is given)."""
    theirs = (
        Delivery.person_id == person_id
        if email is None
        else or_(Delivery.person_id == person_id, Delivery.to_email == email)
    )
    order = (Delivery.id.desc(),) if newest_first else (Delivery.created_at, Delivery.id)
    statement = select(Delivery, Mail).join(Mail, Mail.id == Delivery.mail_id).where(theirs).order_by(*order)
    rows = await db.execute(statement if limit is None else statement.limit(limit))
    return [(delivery, mail) for delivery, mail in rows.all()]


async def forget_recipient(db: AsyncSession, person_id: int, email: str, *, anonymous_email: str) -> None:
    """Keep the outbox's counts but not the address: the person's deliveries become anonymous, what still waits
    is cancelled, and the bodies of mails written to them alone (links, greetings) are emptied."""
    theirs = or_(Delivery.person_id == person_id, Delivery.to_email == email)
    await db.execute(
        update(Mail)
        .where(Mail.id.in_(select(Delivery.mail_id).where(theirs)), Mail.bulk.is_(False))
        .values(text="", html="")
        .execution_options(synchronize_session=False)
    )
    await _move(
        db, and_(theirs, Delivery.status == DeliveryStatus.QUEUED), status=DeliveryStatus.FAILED, last_error=ERASED
    )
    # A relay's refusal often quotes the address ("550 <jan@example.be>: no such user").
    await _move(
        db,
        and_(theirs, func.lower(Delivery.last_error).contains(email.lower(), autoescape=True)),
        last_error="refused (the reply named the erased address)",
    )
    await _move(db, theirs, person_id=None, to_email=anonymous_email, to_name="", unsubscribe_url=None, link=None)


async def attach(db: AsyncSession, mail_id: int, *, filename: str, content_type: str, content: str) -> None:
    """Add a text file (an .ics) to a queued mail: every delivery of the mail carries it."""
    check_header_value(filename, "filename")
    db.add(Attachment(mail_id=mail_id, filename=filename, content_type=content_type, content=content))
    await db.flush()
