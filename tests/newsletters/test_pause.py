"""Pause and Cancel stop a send mid-batch: counted at a real, slow SMTP server on loopback, at most one message
per connection (those already inside their SMTP transaction) arrives after the press was answered."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import func, select

from club.accounts.models import Person
from club.db import utcnow
from club.mail.models import Delivery
from tests.factories import eventually, outbox_settled, running_sender
from tests.helpers import create_newsletter
from tests.mail.smtp_server import SmtpServer

CONNECTIONS = 4
MEMBERS = 240


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


async def slow_server() -> SmtpServer:
    server = await SmtpServer().start()
    server.handler.data_delay = 0.03  # about 130 messages a second over four connections: the send is mid-batch
    return server


def count_of(page: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}">([0-9,.\s]+)<', page)
    assert match, f"no {element_id} on the page"
    return int(re.sub(r"\D", "", match.group(1)))


async def test_pause_stops_mid_batch_and_resume_sends_the_rest_once(admin_client, post, db, engine):
    await subscribed_members(db, MEMBERS)
    newsletter_id = await create_newsletter(post)
    server = await slow_server()
    try:
        assert (await post(f"/admin/newsletters/{newsletter_id}/send")).status_code == 303
        async with running_sender(engine, server.port, connections=CONNECTIONS):
            await eventually(lambda: _at_least(server, 20))
            token_page = f"/admin/newsletters/{newsletter_id}/report"
            paused = await post(f"/admin/newsletters/{newsletter_id}/pause", page=token_page)
            arrived_when_answered = len(server.received)
            assert paused.status_code == 303
            await asyncio.sleep(1.5)  # unpaused, about 200 more would arrive in this time
            late = len(server.received) - arrived_when_answered
            assert late <= CONNECTIONS
            assert arrived_when_answered + late < MEMBERS

            report = (await admin_client.get(paused.headers["location"])).text
            assert "Sending is paused." in report
            left_after = count_of(report, "count-after-stop")
            assert late <= left_after <= 2 * CONNECTIONS  # also those that left but were not yet recorded
            assert count_of(report, "count-sent") == len(server.received)

            resumed = await post(f"/admin/newsletters/{newsletter_id}/resume", page=token_page)
            assert resumed.headers["location"].endswith("/report")
            assert "Sending has resumed." in (await admin_client.get(resumed.headers["location"])).text
            # The page the poller reloads after Resume says neither notice again, nor "paused".
            stale = (await admin_client.get(resumed.headers["location"])).text
            assert "Sending is paused." not in stale and 'data-status="paused"' not in stale
            assert "Sending has resumed." not in stale
            await eventually(lambda: _at_least(server, MEMBERS), timeout=30)
            await eventually(lambda: outbox_settled(engine))  # so a second copy of a mail would be here by now
    finally:
        await server.stop()
    recipients = [rcpt for message in server.received for rcpt in message.rcpt_tos]
    assert len(recipients) == MEMBERS and len(set(recipients)) == MEMBERS


async def test_cancel_stops_mid_batch_and_nothing_more_leaves(admin_client, post, db, engine):
    await subscribed_members(db, MEMBERS)
    newsletter_id = await create_newsletter(post)
    server = await slow_server()
    try:
        await post(f"/admin/newsletters/{newsletter_id}/send")
        async with running_sender(engine, server.port, connections=CONNECTIONS):
            await eventually(lambda: _at_least(server, 20))
            cancelled = await post(
                f"/admin/newsletters/{newsletter_id}/cancel", page=f"/admin/newsletters/{newsletter_id}/report"
            )
            arrived_when_answered = len(server.received)
            assert cancelled.status_code == 303
            # A bounded wait is the observable here: cancelled deliveries never settle into "sent", and a sender
            # that ignored the cancel would deliver about 200 more in this time.
            await asyncio.sleep(1.5)
            late = len(server.received) - arrived_when_answered
            assert late <= CONNECTIONS
            report = (await admin_client.get(f"/admin/newsletters/{newsletter_id}/report")).text
            assert late <= count_of(report, "count-after-stop") <= 2 * CONNECTIONS
    finally:
        await server.stop()
    still_going = await db.scalar(select(func.count()).where(Delivery.status.in_(("queued", "sending"))))
    assert still_going == 0
    assert len(server.received) < MEMBERS


async def _at_least(server: SmtpServer, count: int) -> bool:
    return len(server.received) >= count
