"""A relay that refuses everyone (a fault-injecting SMTP server on loopback answering 550 to every RCPT) suppresses
nobody: the sender holds all mail, the admin sees what the relay said and resumes once it is fixed. Failed deliveries
of a send can be retried, and members suppressed by such a refusal before can be released in bulk (audited)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from club.accounts.models import Person
from club.admin.models import AuditEntry
from club.db import utcnow
from club.mail.models import Delivery, Hold
from club.mail.outbox import queue_mail
from tests.factories import eventually, running_sender
from tests.helpers import create_newsletter
from tests.mail.smtp_server import SmtpServer

MEMBERS = 500
RELAY_DENIED = "550 5.7.1 Relay access denied"


async def subscribed_members(db, count: int) -> None:
    db.add_all(
        Person(
            email=f"lid{i:04d}@example.be",
            name=f"Lid {i}",
            language="nl",
            city="ghent",
            confirmed_at=utcnow(),
            newsletter=True,
        )
        for i in range(count)
    )
    await db.commit()


async def count(db, condition) -> int:
    db.expire_all()
    table = condition.left.table
    return int(await db.scalar(select(func.count()).select_from(table).where(condition)) or 0)


async def test_a_relay_refusing_everyone_holds_the_mail_and_suppresses_nobody(admin_client, post, db, engine):
    await subscribed_members(db, MEMBERS)
    newsletter_id = await create_newsletter(post)
    server = await SmtpServer().start()
    server.handler.rcpt_reply_all = RELAY_DENIED
    try:
        await post(f"/admin/newsletters/{newsletter_id}/send")
        async with running_sender(engine, server.port, connections=4) as sender:

            async def held_and_handed_back() -> bool:
                return sender.held and await count(db, Delivery.status != "queued") == 0

            await eventually(held_and_handed_back)
            assert await count(db, Person.suppressed_at.is_not(None)) == 0
            assert await count(db, Delivery.status == "failed") == 0
            assert await count(db, Delivery.status == "queued") == MEMBERS
            hold = await db.scalar(select(Hold))
            assert hold is not None and hold.resolved_at is None and hold.code == 550
            assert "Relay access denied" in hold.reply

            for page in (f"/admin/newsletters/{newsletter_id}/report", "/admin/mail/queue"):
                text = (await admin_client.get(page)).text
                assert "All mail is on hold" in text and "550 5.7.1 Relay access denied" in text
                assert 'action="/admin/mail/hold/lift"' in text

            server.handler.rcpt_reply_all = None  # the relay is fixed
            lifted = await post("/admin/mail/hold/lift", page="/admin/mail/queue")
            assert lifted.status_code == 303
            await eventually(lambda: _at_least(server, MEMBERS), timeout=60)
    finally:
        await server.stop()
    recipients = [rcpt for message in server.received for rcpt in message.rcpt_tos]
    assert len(recipients) == MEMBERS and len(set(recipients)) == MEMBERS
    assert await count(db, Person.suppressed_at.is_not(None)) == 0
    assert await db.scalar(select(AuditEntry.action).where(AuditEntry.action == "mail.lift_hold")) is not None


async def test_a_single_unknown_user_is_still_suppressed_while_others_go(admin_client, post, db, engine):
    await subscribed_members(db, 20)
    server = await SmtpServer().start()
    server.handler.rcpt_replies["lid0003@example.be"] = "550 5.1.1 <lid0003@example.be>: user unknown"
    try:
        await post(f"/admin/newsletters/{await create_newsletter(post)}/send")
        async with running_sender(engine, server.port) as sender:

            async def settled() -> bool:
                return await count(db, Delivery.status.in_(("queued", "sending"))) == 0

            await eventually(settled)
            assert not sender.held
    finally:
        await server.stop()
    suppressed = (await db.execute(select(Person.email).where(Person.suppressed_at.is_not(None)))).scalars().all()
    assert suppressed == ["lid0003@example.be"]
    assert len(server.received) == 19


async def test_retry_sends_the_failed_deliveries_of_a_send_again(admin_client, post, db, engine):
    await subscribed_members(db, 6)
    newsletter_id = await create_newsletter(post)
    await post(f"/admin/newsletters/{newsletter_id}/send")
    await db.execute(
        Delivery.__table__.update().values(  # type: ignore[attr-defined]
            status="failed", attempts=1, smtp_code=451, last_error="gave up after 9 attempts: try later"
        )
    )
    await db.commit()
    report = (await admin_client.get(f"/admin/newsletters/{newsletter_id}/report")).text
    assert "Retry 6 failed deliveries" in report
    retried = await post(f"/admin/newsletters/{newsletter_id}/retry", page=f"/admin/newsletters/{newsletter_id}/report")
    assert retried.headers["location"].endswith("/report")
    assert "The failed deliveries are queued again." in (await admin_client.get(retried.headers["location"])).text
    assert await count(db, Delivery.status == "queued") == 6
    server = await SmtpServer().start()
    try:
        async with running_sender(engine, server.port):
            await eventually(lambda: _at_least(server, 6))
    finally:
        await server.stop()
    nothing = await post(f"/admin/newsletters/{newsletter_id}/retry")
    assert nothing.status_code == 409


async def test_members_suppressed_by_a_systemic_refusal_are_released_in_bulk(admin_client, post, db):
    await subscribed_members(db, 8)
    people = (await db.execute(select(Person).where(Person.email.like("lid%")))).scalars().all()
    for person in people[:7]:
        person.suppressed_at = utcnow()
        person.suppressed_reason = f"550 5.7.1 <{person.email}>: Relay access denied"
    people[7].suppressed_at, people[7].suppressed_reason = utcnow(), "550 5.1.1 user unknown"
    await db.commit()

    page = (await admin_client.get("/admin/mail/queue")).text
    assert "7 members suppressed with this reply" in page and "Release 7 members" in page
    assert "user unknown" not in page  # one refusal is about its recipient
    pattern = "550 5.7.1 <>: Relay access denied"
    released = await post("/admin/mail/suppressions/release", {"pattern": pattern}, page="/admin/mail/queue")
    assert released.status_code == 303
    assert await count(db, Person.suppressed_at.is_not(None)) == 1
    entry = await db.scalar(select(AuditEntry).where(AuditEntry.action == "mail.release_suppressed"))
    assert entry is not None and '"count": 7' in entry.details
    for pattern in ("nothing like this", "550 5.1.1 user unknown"):  # one member: released on their own page
        refused = await post("/admin/mail/suppressions/release", {"pattern": pattern}, page="/admin/mail/queue")
        assert refused.status_code == 303 and await count(db, Person.suppressed_at.is_not(None)) == 1


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("rcpt", "554 5.7.1 <x@example.be>: Relay access denied"),
        ("mail", "553 5.7.1 Sender address rejected: not owned by user club@ghent-kanazawa.example"),
        ("rcpt", "530 5.7.0 Authentication required"),
    ],
)
async def test_one_relay_refusal_is_enough_to_hold_when_it_names_the_relay(db, engine, command, reply):
    await subscribed_members(db, 3)
    for person in (await db.execute(select(Person))).scalars():
        await queue_mail(
            db,
            to_email=person.email,
            to_name=person.name,
            subject="Bevestig",
            text="x",
            html="x",
            language="nl",
            person_id=person.id,
        )
    await db.commit()
    server = await SmtpServer().start()
    setattr(server.handler, "mail_reply" if command == "mail" else "rcpt_reply_all", reply)
    try:
        async with running_sender(engine, server.port) as sender:

            async def held() -> bool:
                return sender.held and await count(db, Delivery.status != "queued") == 0

            await eventually(held)
    finally:
        await server.stop()
    assert await count(db, Person.suppressed_at.is_not(None)) == 0
    hold = await db.scalar(select(Hold))
    assert hold is not None and hold.code == int(reply[:3])


async def _at_least(server: SmtpServer, number: int) -> bool:
    return len(server.received) >= number
