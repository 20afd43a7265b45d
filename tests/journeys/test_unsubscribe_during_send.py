"""A member who leaves while a newsletter is being sent gets nothing more, even when the sender has already picked
up their copy: the one-click List-Unsubscribe link out of last month's real mail, followed during this month's send
to a real (slow) SMTP server on loopback. The same for a member suppressed or erased meanwhile."""

from __future__ import annotations

import re

from sqlalchemy import select

from club.accounts.models import Person
from club.db import utcnow
from club.mail.models import Delivery
from club.members import service as members
from tests.factories import eventually, outbox_settled, running_sender
from tests.helpers import create_newsletter
from tests.mail.smtp_server import SmtpServer

MEMBERS = 60
LEAVING = 5  # the last ones in sending order: far from the mails on the wire when they leave


def one_click_url(raw: bytes) -> str:
    from email import message_from_bytes, policy

    header = str(message_from_bytes(raw, policy=policy.default)["List-Unsubscribe"])
    return re.search(r"<(https?://[^>]+)>", header).group(1)  # type: ignore[union-attr]


async def test_members_who_leave_during_a_send_receive_nothing_more(admin_client, post, db, engine, settings):
    db.add_all(
        Person(
            email=f"lid{i:03d}@example.be",
            name=f"Lid {i}",
            language="nl",
            city="ghent",
            confirmed_at=utcnow(),
            newsletter=True,
        )
        for i in range(MEMBERS)
    )
    await db.commit()
    server = await SmtpServer().start()
    try:
        # Last month's newsletter reaches everybody: its mails carry each member's own unsubscribe link.
        first = await create_newsletter(post, subject_nl="Vorige maand")
        await post(f"/admin/newsletters/{first}/send")
        async with running_sender(engine, server.port, connections=2):
            await eventually(lambda: _at_least(server, MEMBERS))
        links = {message.rcpt_tos[0]: one_click_url(message.data) for message in server.received}
        server.handler.received.clear()

        server.handler.data_delay = 0.03
        second = await create_newsletter(post, subject_nl="Deze maand")
        await post(f"/admin/newsletters/{second}/send")
        async with running_sender(engine, server.port, connections=2) as sender:
            await eventually(lambda: _at_least(server, 5))
            # The sender holds the whole send in its local queue already.
            claimed = await db.scalar(select(Delivery.id).where(Delivery.status == "sending").limit(1))
            assert claimed is not None and sender.batch_size >= MEMBERS
            leaving = [f"lid{i:03d}@example.be" for i in range(MEMBERS - LEAVING, MEMBERS)]
            for address in leaving[:3]:  # one-click, as a mail client does (RFC 8058)
                answer = await admin_client.post(links[address], data={"List-Unsubscribe": "One-Click"})
                assert answer.status_code == 200
            suppressed = await db.scalar(select(Person).where(Person.email == leaving[3]))
            suppressed.suppressed_at, suppressed.suppressed_reason = utcnow(), "asked by phone"
            await db.commit()
            erased = await db.scalar(select(Person).where(Person.email == leaving[4]))
            await members.erase(db, settings, erased)
            await db.commit()
            await eventually(lambda: _at_least(server, MEMBERS - LEAVING), timeout=30)
            await eventually(lambda: outbox_settled(engine))  # so a mail to one who left would be here by now
    finally:
        await server.stop()

    arrived = [rcpt for message in server.received for rcpt in message.rcpt_tos]
    assert not set(arrived) & set(leaving)
    assert len(arrived) == MEMBERS - LEAVING
    report = (await admin_client.get(f"/admin/newsletters/{second}/report")).text
    assert 'id="count-skipped">3<' in report  # "Unsubscribed before sending"
    assert 'id="count-sent">55<' in report


async def _at_least(server: SmtpServer, count: int) -> bool:
    return len(server.received) >= count
