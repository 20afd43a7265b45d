from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.models import Person
from club.accounts.suppression import suppress_address
from club.db import create_engine, create_sessionmaker
from club.mail.models import Delivery
from club.mail.outbox import Recipient, queue_mail, queue_newsletter
from club.mail.sender import DatabaseStore, SenderAlreadyRunning
from tests.factories import eventually, running_sender
from tests.helpers import ON_POSTGRES
from tests.mail.smtp_server import SmtpServer


async def statuses(engine: AsyncEngine) -> list[tuple[str, str, int, int | None, str | None]]:
    async with create_sessionmaker(engine)() as db:
        rows = await db.execute(
            select(
                Delivery.to_email, Delivery.status, Delivery.attempts, Delivery.smtp_code, Delivery.last_error
            ).order_by(Delivery.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def all_sent(engine: AsyncEngine, count: int) -> bool:
    async with create_sessionmaker(engine)() as db:
        sent = await db.scalar(select(func.count()).where(Delivery.status == "sent"))
        return sent == count


async def confirmation(db: AsyncSession, to: str = "jan@example.be") -> Delivery:
    return await queue_mail(
        db,
        to_email=to,
        to_name="Jan Peeters",
        subject="Bevestig je inschrijving",
        text="Klik: https://club.example/confirm/abc",
        html="<p><a href='https://club.example/confirm/abc'>Bevestig</a></p>",
        language="nl",
    )


@pytest.fixture
async def server() -> AsyncIterator[SmtpServer]:
    smtp = await SmtpServer().start()
    yield smtp
    await smtp.stop()


async def test_a_mail_commits_or_rolls_back_with_the_change_that_caused_it(db: AsyncSession) -> None:
    db.add(Person(email="jan@example.be", name="Jan"))
    await confirmation(db)
    await db.rollback()
    assert await db.scalar(select(func.count()).select_from(Delivery)) == 0
    assert await db.scalar(select(func.count()).select_from(Person)) == 0
    db.add(Person(email="jan@example.be", name="Jan"))
    delivery = await confirmation(db)
    await db.commit()
    assert delivery.id is not None
    assert await db.scalar(select(func.count()).select_from(Delivery)) == 1


async def test_queue_mail_refuses_an_unsendable_address_or_subject(db: AsyncSession) -> None:
    with pytest.raises(ValueError):
        await confirmation(db, to="not an address")
    with pytest.raises(ValueError):
        await queue_mail(
            db,
            to_email="a@example.org",
            to_name="A",
            subject="x\r\nBcc: b@example.org",
            text="t",
            html="h",
            language="en",
        )


async def test_transactional_mail_is_delivered_over_smtp(
    db: AsyncSession, engine: AsyncEngine, server: SmtpServer
) -> None:
    await confirmation(db)
    await db.commit()
    async with running_sender(engine, server.port):
        await eventually(lambda: all_sent(engine, 1))
    [received] = server.received
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert received.rcpt_tos == ["jan@example.be"]
    assert message["Subject"] == "Bevestig je inschrijving"
    assert "List-Unsubscribe" not in message
    assert message["Message-ID"].endswith("@ghent-kanazawa.example>")


async def test_transactional_mail_goes_ahead_of_a_newsletter(
    db: AsyncSession, engine: AsyncEngine, server: SmtpServer
) -> None:
    recipients = [
        Recipient(f"m{i}@example.org", f"Lid {i}", unsubscribe_url=f"https://club.example/u/{i}") for i in range(60)
    ]
    await queue_newsletter(
        db,
        subject="Nieuws",
        text="Hoi %%name%%",
        html="<p>Hoi %%name%%</p>",
        language="nl",
        recipients=recipients,
        reference="newsletter:1",
    )
    await db.commit()
    await confirmation(db, to="urgent@example.be")
    await db.commit()
    async with running_sender(engine, server.port, connections=1):
        await eventually(lambda: all_sent(engine, 61))
    assert server.received[0].rcpt_tos == ["urgent@example.be"]
    newsletters = [email.message_from_bytes(r.data, policy=email.policy.default) for r in server.received[1:]]
    assert len({m["Message-ID"] for m in newsletters}) == 60
    first = next(m for m in newsletters if m["To"].addresses[0].addr_spec == "m7@example.org")
    assert first["List-Unsubscribe"].startswith("<https://club.example/u/7>, <mailto:")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hoi Lid 7" in first.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_a_4xx_reply_is_retried_until_it_goes(db: AsyncSession, engine: AsyncEngine, server: SmtpServer) -> None:
    server.handler.rcpt_replies["jan@example.be"] = "451 4.3.0 greylisted, come back later"
    await confirmation(db)
    await db.commit()

    async def retried_twice() -> bool:
        [(_, status, attempts, code, error)] = await statuses(engine)
        return status == "queued" and attempts >= 2 and code == 451 and "greylisted" in (error or "")

    async with running_sender(engine, server.port):
        await eventually(retried_twice)
        del server.handler.rcpt_replies["jan@example.be"]
        await eventually(lambda: all_sent(engine, 1))
    assert [r.rcpt_tos for r in server.received] == [["jan@example.be"]]


async def test_a_5xx_reply_fails_for_good_keeps_the_reply_and_suppresses_the_person(
    db: AsyncSession, engine: AsyncEngine, server: SmtpServer
) -> None:
    server.handler.rcpt_replies["gone@example.be"] = "550 5.1.1 user unknown"
    db.add(Person(email="gone@example.be", name="Weg", newsletter=True))
    await confirmation(db, to="gone@example.be")
    await confirmation(db, to="fine@example.be")
    await db.commit()

    async def settled() -> bool:
        return {row[1] for row in await statuses(engine)} == {"failed", "sent"}

    async with running_sender(engine, server.port):
        await eventually(settled)
    failed = [row for row in await statuses(engine) if row[0] == "gone@example.be"]
    assert failed == [("gone@example.be", "failed", 1, 550, "5.1.1 user unknown")]
    person = await db.scalar(select(Person).where(Person.email == "gone@example.be"))
    assert person is not None and person.suppressed_at is not None
    assert "user unknown" in (person.suppressed_reason or "")


async def test_mail_waits_while_the_smtp_server_is_down_and_goes_when_it_is_back(
    db: AsyncSession, engine: AsyncEngine
) -> None:
    server = await SmtpServer().start()
    port = server.port
    await server.stop()
    await confirmation(db)
    await db.commit()
    async with running_sender(engine, port):

        async def tried() -> bool:
            return (await statuses(engine))[0][2] >= 1

        await eventually(tried)
        assert (await statuses(engine))[0][1] in ("queued", "sending")
        back = await SmtpServer(server.handler).start(port)
        try:
            await eventually(lambda: all_sent(engine, 1), timeout=30)
        finally:
            await back.stop()
    assert len(server.received) == 1


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL runs several senders")
async def test_a_second_sender_on_sqlite_refuses_to_start(engine: AsyncEngine) -> None:
    first = DatabaseStore(create_sessionmaker(engine), suppress=suppress_address)
    await first.register()
    second = DatabaseStore(create_sessionmaker(engine), suppress=suppress_address)
    with pytest.raises(SenderAlreadyRunning, match="SQLite allows one sender"):
        await second.register()
    await first.unregister()
    await second.register()


@pytest.mark.skipif(not ON_POSTGRES, reason="several senders need PostgreSQL")
async def test_two_senders_on_postgresql_never_send_a_delivery_twice(
    db: AsyncSession, settings: object, server: SmtpServer
) -> None:
    recipients = [Recipient(f"m{i}@example.org", unsubscribe_url=f"https://club.example/u/{i}") for i in range(400)]
    await queue_newsletter(db, subject="Nieuws", text="x", html="<p>x</p>", language="nl", recipients=recipients)
    await db.commit()
    engines = [create_engine(settings.database_url) for _ in range(2)]  # type: ignore[attr-defined]
    try:
        async with (
            running_sender(engines[0], server.port) as one,
            running_sender(engines[1], server.port) as two,
        ):
            one.batch_size = two.batch_size = 20
            await eventually(lambda: all_sent(engines[0], 400), timeout=60)
    finally:
        for engine in engines:
            await engine.dispose()
    rcpts = [r.rcpt_tos[0] for r in server.received]
    assert len(rcpts) == 400
    assert len(set(rcpts)) == 400
