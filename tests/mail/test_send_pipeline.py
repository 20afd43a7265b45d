"""The sending pipeline's crash-safety rule, piece by piece: a connection's next content waits for the commit of
its previous outcome (its envelope need not), and content held back and then abandoned is never delivered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.suppression import suppress_address
from club.db import create_sessionmaker
from club.mail.message import Address, build_message
from club.mail.models import Delivery
from club.mail.outbox import Recipient, queue_newsletter
from club.mail.sender import DatabaseStore, MailSender, Outcome
from club.mail.transport import PermanentFailure, SmtpTransport
from tests.mail.smtp_server import SmtpServer

FROM = "club@ghent-kanazawa.example"


def message(to: str = "jan@example.be") -> bytes:
    return build_message(
        sender=Address(FROM, "Club"), to=Address(to, "Jan"), subject="Test", text="Hallo", html="<p>x</p>"
    )


@pytest_asyncio.fixture
async def server() -> AsyncIterator[SmtpServer]:
    smtp = await SmtpServer().start()
    yield smtp
    await smtp.stop()


async def test_the_content_waits_for_ready_and_goes_when_it_is_done(server: SmtpServer) -> None:
    transport = SmtpTransport(host="127.0.0.1", port=server.port, connections=1, timeout=5)
    gate = asyncio.get_running_loop().create_future()
    called = asyncio.Event()

    async def ready() -> None:
        called.set()
        await gate

    sending = asyncio.create_task(transport.send(FROM, ["jan@example.be"], message(), ready=ready))
    await asyncio.wait_for(called.wait(), 5)
    # The server has answered 354; content sent without waiting for ready() would arrive within a loopback round
    # trip, so a short bounded wait is what shows it did not come.
    await asyncio.sleep(0.05)
    assert server.received == []
    gate.set_result(None)
    assert "queued" in await sending
    await transport.close()
    assert [r.rcpt_tos for r in server.received] == [["jan@example.be"]]


async def test_content_held_back_and_abandoned_is_never_delivered(server: SmtpServer) -> None:
    transport = SmtpTransport(host="127.0.0.1", port=server.port, connections=1, timeout=5)
    called = asyncio.Event()

    async def never() -> None:
        called.set()
        await asyncio.Event().wait()

    sending = asyncio.create_task(transport.send(FROM, ["lost@example.be"], message("lost@example.be"), ready=never))
    await asyncio.wait_for(called.wait(), 5)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    # The connection was in the middle of DATA: it is dropped, and the next mail goes on a new one.
    await transport.send(FROM, ["next@example.be"], message("next@example.be"))
    await transport.close()
    await asyncio.sleep(0.05)  # bounded wait: the abandoned content, had it been written, would arrive by now
    assert [r.rcpt_tos for r in server.received] == [["next@example.be"]]
    assert server.handler.ehlo_count == 2


async def test_bare_line_feeds_and_leading_dots_arrive_intact(server: SmtpServer) -> None:
    transport = SmtpTransport(host="127.0.0.1", port=server.port, connections=1, timeout=5)
    await transport.send(FROM, ["jan@example.be"], b"Subject: dots\n\n.first\nmiddle\r\n..second\rlast")
    await transport.close()
    [received] = server.received
    assert received.data == b"Subject: dots\r\n\r\n.first\r\nmiddle\r\n..second\r\nlast\r\n"


async def test_an_address_that_cannot_go_on_the_wire_fails_for_good_before_connecting(server: SmtpServer) -> None:
    transport = SmtpTransport(host="127.0.0.1", port=server.port, connections=1, timeout=5)
    with pytest.raises(PermanentFailure):
        await transport.send(FROM, ["jan@example.be>\r\nRCPT TO:<x@example.org"], message())
    await transport.close()
    assert server.handler.ehlo_count == 0


class HeldStore(DatabaseStore):
    """The real store, with a gate in front of recording, to watch what the sender does meanwhile."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gate = asyncio.Event()
        self.groups: list[list[str]] = []

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        self.groups.append([o.delivery.to_email for o in outcomes])
        await self.gate.wait()
        await super().record(outcomes)


async def test_a_connection_sends_no_new_content_before_its_last_outcome_is_recorded(
    db: AsyncSession, engine: AsyncEngine, server: SmtpServer
) -> None:
    recipients = [Recipient(f"m{i}@example.org", unsubscribe_url=f"https://club.example/u/{i}") for i in range(6)]
    await queue_newsletter(db, subject="Nieuws", text="x", html="<p>x</p>", language="nl", recipients=recipients)
    await db.commit()
    connections = 2
    store = HeldStore(create_sessionmaker(engine), suppress=suppress_address)
    transport = SmtpTransport(host="127.0.0.1", port=server.port, connections=connections, timeout=5)
    sender = MailSender(store, transport, mail_from=Address(FROM), connections=connections, poll_interval=0.05)
    task = asyncio.create_task(sender.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not store.groups and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # bounded wait: a connection that did not hold back would deliver more by now
        # Nothing is recorded yet: each connection delivered one message and holds its next one back.
        assert len(server.received) == connections
        store.gate.set()
        while sender.sent < 6 and loop.time() < deadline:
            await asyncio.sleep(0.01)
    finally:
        store.gate.set()
        sender.stop()
        await task
        await transport.close()
    assert sorted(r.rcpt_tos[0] for r in server.received) == sorted(r.email for r in recipients)
    async with create_sessionmaker(engine)() as check:
        assert await check.scalar(select(func.count()).where(Delivery.status == "sent")) == 6
