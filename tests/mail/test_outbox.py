"""The outbox's API: a feature's mail held, released, cancelled, retried and counted by reference; a person's
waiting mail cancelled; and states that are closed: the database refuses a status or role no enum names."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from club.mail import outbox
from club.mail.models import Delivery, DeliveryStatus
from club.mail.outbox import Recipient, queue_mail, queue_newsletter
from tests.factories import make_person

REFERENCE = "newsletter:77"


async def statuses(db: AsyncSession) -> dict[str, str]:
    rows = await db.execute(select(Delivery.to_email, Delivery.status).execution_options(populate_existing=True))
    return {email: status for email, status in rows}


async def queue(db: AsyncSession, people: list) -> None:
    await queue_newsletter(
        db,
        subject="Nieuws",
        text="Dag %%name%%",
        html="<p>Dag</p>",
        language="nl",
        reference=REFERENCE,
        recipients=[Recipient(p.email, p.name, p.id, f"https://club.example/u/{p.id}") for p in people],
    )


async def test_hold_release_cancel_and_count_a_references_mail(db: AsyncSession) -> None:
    stays, leaves, sent = [await make_person(db, newsletter=True) for _ in range(3)]
    await queue(db, [stays, leaves, sent])
    other = await queue_mail(
        db, to_email="other@example.org", to_name="O", subject="Login", text="x", html="x", language="en"
    )
    await db.execute(
        update(Delivery).where(Delivery.to_email == sent.email).values(status=DeliveryStatus.SENT, after_stop=True)
    )

    assert await outbox.hold(db, REFERENCE) == 2
    assert (await statuses(db))[other.to_email] == "queued"  # another feature's mail is not touched
    released = await outbox.release(db, REFERENCE, to=select(text(str(stays.id))))
    assert released == 1
    assert await statuses(db) == {
        stays.email: "queued",
        leaves.email: "failed",
        sent.email: "sent",
        other.to_email: "queued",
    }

    counts = await outbox.count_by_state(db, REFERENCE)
    assert (counts[DeliveryStatus.QUEUED], counts[DeliveryStatus.SENT], counts[DeliveryStatus.FAILED]) == (1, 1, 0)
    assert (counts.unsubscribed, counts.waiting, counts.total, counts.after_stop) == (1, 1, 3, 1)
    # Left before their copy went: never retried.
    assert await outbox.retry_failed(db, REFERENCE) == 0

    assert await outbox.cancel(db, REFERENCE) == 1
    assert (await statuses(db))[stays.email] == "cancelled"
    assert (await outbox.count_by_state(db, REFERENCE)).waiting == 0


async def test_retry_failed_queues_refused_deliveries_again_or_holds_them(db: AsyncSession) -> None:
    people = [await make_person(db, newsletter=True) for _ in range(2)]
    await queue(db, people)
    await db.execute(update(Delivery).values(status=DeliveryStatus.FAILED, last_error="451 try later", attempts=3))
    assert await outbox.retry_failed(db, REFERENCE, held=True) == 2
    assert set((await statuses(db)).values()) == {"paused"}
    rows = (await db.execute(select(Delivery.attempts, Delivery.last_error))).all()
    assert rows == [(0, None), (0, None)]


async def test_cancel_waiting_takes_a_person_out_of_newsletters_only(db: AsyncSession) -> None:
    person = await make_person(db, newsletter=True)
    await queue(db, [person])
    login = await queue_mail(
        db,
        to_email=person.email,
        to_name=person.name,
        subject="Login",
        text="x",
        html="x",
        language="en",
        person_id=person.id,
    )
    # A mail to many that is no newsletter (an event's invitation) stays too, though it waits behind the login mail.
    invitation, _ = await queue_newsletter(
        db,
        subject="Uitnodiging",
        text="%%link%%",
        html="x",
        language="nl",
        recipients=[Recipient(person.email, person.name, person.id, link="https://club.example/r/1")],
        kind="event-invitation",
        bulk=False,
    )
    assert await outbox.cancel_waiting(db, person.id) == 1
    rows = dict(
        (
            await db.execute(select(Delivery.mail_id, Delivery.last_error).execution_options(populate_existing=True))
        ).all()
    )
    assert rows.pop(login.mail_id) is None and rows.pop(invitation.id) is None
    assert list(rows.values()) == [outbox.UNSUBSCRIBED]


async def _refused(db: AsyncSession, statement: str) -> bool:
    try:
        async with db.begin_nested():
            await db.execute(text(statement))
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize(
    ("table", "column", "good"),
    [
        ("mail_deliveries", "status", "cancelled"),
        ("people", "role", "ambassador"),
        ("activities", "status", "returned"),
        ("newsletters", "status", "paused"),
        ("events", "status", "cancelled"),
        ("events", "zone", "Asia/Tokyo"),
        ("event_rsvps", "status", "waiting"),
    ],
)
async def test_the_database_refuses_a_state_no_enum_names(db: AsyncSession, table: str, column: str, good: str) -> None:
    from club.db import utcnow
    from club.events.models import Event, Rsvp
    from club.newsletters.models import Newsletter
    from tests.factories import make_activity, make_ambassador

    person, appointment = await make_ambassador(db)
    await make_activity(db, person, appointment)
    await queue(db, [person])
    db.add(Newsletter(created_by_id=person.id))
    event = Event(uid="u@events", starts_at=utcnow(), ends_at=utcnow(), capacity=None)
    db.add(event)
    await db.flush()
    db.add(Rsvp(event_id=event.id, person_id=person.id, status="yes", ticket="t"))
    await db.commit()

    assert await _refused(db, f"UPDATE {table} SET {column} = 'archived'")
    assert await _refused(db, f"UPDATE {table} SET {column} = ''")
    assert not await _refused(db, f"UPDATE {table} SET {column} = '{good}'")


async def test_a_new_row_with_an_unknown_state_is_refused(db: AsyncSession) -> None:
    person = await make_person(db)
    await queue(db, [person])
    mail_id = (await db.execute(select(Delivery.mail_id))).scalar_one()
    columns = "mail_id, to_email, to_name, priority, attempts, after_stop, next_attempt_at, created_at, status"
    values = f"{mail_id}, 'x@example.org', '', 10, 0, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP"
    assert await _refused(db, f"INSERT INTO mail_deliveries ({columns}) VALUES ({values}, 'bounced')")
    assert not await _refused(db, f"INSERT INTO mail_deliveries ({columns}) VALUES ({values}, 'paused')")
    columns = "email, name, language, city, newsletter, created_at, updated_at, role"
    values = "'y@example.org', 'Y', 'en', 'ghent', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP"
    assert await _refused(db, f"INSERT INTO people ({columns}) VALUES ({values}, 'owner')")
    assert not await _refused(db, f"INSERT INTO people ({columns}) VALUES ({values}, 'member')")
