from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bench.smtp_sink import read_count, start_sink
from club.mail.message import Address, build_message
from club.mail.transport import PermanentFailure, SmtpTransport, TemporaryFailure
from tests.mail.smtp_server import RecordingHandler, SmtpServer

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

FROM = "club@ghent-kanazawa.example"


def message(to: str = "jan@example.be", body: str = "Hallo Jan\n.\n..dots stay\n") -> bytes:
    return build_message(
        sender=Address(FROM, "Club"), to=Address(to, "Jan"), subject="Test 金沢", text=body, html="<p>x</p>"
    )


@pytest_asyncio.fixture
async def server() -> AsyncIterator[SmtpServer]:
    smtp = await SmtpServer().start()
    yield smtp
    await smtp.stop()


def transport_for(server: SmtpServer, **options: object) -> SmtpTransport:
    return SmtpTransport(host="127.0.0.1", port=server.port, timeout=5, **options)  # type: ignore[arg-type]


async def test_delivers_the_exact_bytes(server: SmtpServer) -> None:
    transport = transport_for(server)
    raw = message()
    reply = await transport.send(FROM, ["jan@example.be"], raw)
    await transport.close()
    assert "queued" in reply
    [received] = server.received
    assert received.mail_from == FROM
    assert received.rcpt_tos == ["jan@example.be"]
    assert received.data == raw


async def test_connections_are_reused_and_bounded(server: SmtpServer) -> None:
    transport = transport_for(server, connections=3)
    await asyncio.gather(*(transport.send(FROM, [f"m{i}@example.org"], message()) for i in range(30)))
    await transport.close()
    assert len(server.received) == 30
    assert server.handler.ehlo_count <= 3


async def test_4xx_is_temporary_and_5xx_permanent_with_the_reply_kept(server: SmtpServer) -> None:
    server.handler.rcpt_replies["busy@example.org"] = "450 4.2.1 mailbox busy, try later"
    server.handler.rcpt_replies["gone@example.org"] = "550 5.1.1 no such user here"
    transport = transport_for(server, connections=1)
    with pytest.raises(TemporaryFailure) as temporary:
        await transport.send(FROM, ["busy@example.org"], message("busy@example.org"))
    assert temporary.value.code == 450 and "mailbox busy" in temporary.value.reply
    with pytest.raises(PermanentFailure) as permanent:
        await transport.send(FROM, ["gone@example.org"], message("gone@example.org"))
    assert permanent.value.code == 550 and "no such user here" in permanent.value.reply
    assert permanent.value.recipient_refused
    # The connection survives refusals: the next mail goes out on it.
    await transport.send(FROM, ["ok@example.org"], message("ok@example.org"))
    await transport.close()
    assert [r.rcpt_tos for r in server.received] == [["ok@example.org"]]
    assert server.handler.ehlo_count == 1


async def test_a_refused_message_is_permanent_but_not_a_refused_recipient(server: SmtpServer) -> None:
    server.handler.data_reply = "554 5.7.1 message looks like spam"
    transport = transport_for(server)
    with pytest.raises(PermanentFailure) as failure:
        await transport.send(FROM, ["jan@example.be"], message())
    await transport.close()
    assert failure.value.code == 554 and not failure.value.recipient_refused


async def test_server_down_is_temporary_and_sending_resumes_when_it_is_back() -> None:
    server = await SmtpServer().start()
    port = server.port
    transport = SmtpTransport(host="127.0.0.1", port=port, timeout=5, connections=2)
    await transport.send(FROM, ["a@example.org"], message("a@example.org"))
    await server.stop()
    with pytest.raises(TemporaryFailure) as failure:
        await transport.send(FROM, ["b@example.org"], message("b@example.org"))
    assert failure.value.code is None
    back = await SmtpServer(server.handler).start(port)
    try:
        await transport.send(FROM, ["c@example.org"], message("c@example.org"))
    finally:
        await transport.close()
        await back.stop()
    assert [r.rcpt_tos[0] for r in server.received] == ["a@example.org", "c@example.org"]


async def test_a_dropped_connection_is_replaced(server: SmtpServer) -> None:
    transport = transport_for(server, connections=1)
    await transport.send(FROM, ["a@example.org"], message("a@example.org"))
    server.drop_connections()
    await asyncio.sleep(0.05)
    await transport.send(FROM, ["b@example.org"], message("b@example.org"))
    await transport.close()
    assert len(server.received) == 2
    assert server.handler.ehlo_count == 2


async def test_auth_with_the_right_password_delivers_and_a_wrong_one_is_temporary() -> None:
    server = await SmtpServer(RecordingHandler(), credentials=("club", "s3cret")).start()
    good = SmtpTransport(host="127.0.0.1", port=server.port, username="club", password="s3cret", timeout=5)
    bad = SmtpTransport(host="127.0.0.1", port=server.port, username="club", password="wrong", timeout=5)
    try:
        await good.send(FROM, ["a@example.org"], message("a@example.org"))
        with pytest.raises(TemporaryFailure) as failure:
            await bad.send(FROM, ["b@example.org"], message("b@example.org"))
    finally:
        await good.close()
        await bad.close()
        await server.stop()
    assert failure.value.code == 535
    assert [r.rcpt_tos for r in server.received] == [["a@example.org"]]


async def test_rate_limited_transport_still_delivers_everything(server: SmtpServer) -> None:
    transport = transport_for(server, connections=2, rate=200.0)
    await asyncio.gather(*(transport.send(FROM, [f"r{i}@example.org"], message()) for i in range(10)))
    await transport.close()
    assert len(server.received) == 10


async def test_unknown_security_is_refused() -> None:
    with pytest.raises(ValueError):
        SmtpTransport(host="localhost", port=25, security="ssl")  # type: ignore[arg-type]


async def test_bench_sink_counts_what_the_transport_sends() -> None:
    sink, port = await start_sink()
    transport = SmtpTransport(host="127.0.0.1", port=port, connections=4, timeout=5)
    try:
        await asyncio.gather(*(transport.send(FROM, ["a@example.org"], message(body=".\n" * 50)) for _ in range(25)))
        assert await read_count("127.0.0.1", port) == 25
    finally:
        await transport.close()
        sink.close()


async def test_the_aiosmtplib_internals_the_transport_relies_on_are_still_there(server: SmtpServer) -> None:
    """SmtpTransport sends the content between the server's 354 and its reply through `SMTP.protocol` (`write`,
    `read_response(timeout=)`), which aiosmtplib does not document: the version is pinned (pyproject.toml, the lock),
    and this fails on a version whose internals differ, before a newsletter does."""
    import inspect
    from pathlib import Path

    import aiosmtplib
    from aiosmtplib.protocol import SMTPProtocol

    pinned = [line.strip() for line in Path("pyproject.toml").read_text().splitlines() if '"aiosmtplib' in line]
    assert pinned and pinned[0].split("#")[0].strip().rstrip(",") == f'"aiosmtplib=={aiosmtplib.__version__}"'
    assert f"aiosmtplib=={aiosmtplib.__version__} " in Path("requirements.lock").read_text()
    assert list(inspect.signature(SMTPProtocol.write).parameters) == ["self", "data"]
    assert "timeout" in inspect.signature(SMTPProtocol.read_response).parameters
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=5)
    await client.connect()
    try:
        assert isinstance(client.protocol, SMTPProtocol)
        assert client.is_ehlo_or_helo_needed is False  # connect() greeted the server
        assert client.supports_extension("size") in (True, False)
        assert (await client.execute_command(b"MAIL", b"FROM:<" + FROM.encode() + b">")).code == 250
        assert (await client.execute_command(b"RCPT", b"TO:<jan@example.be>")).code == 250
        assert (await client.execute_command(b"DATA")).code == 354
        client.protocol.write(b"Subject: internals\r\n\r\nHallo Jan\r\n.\r\n")
        assert (await client.protocol.read_response(timeout=5)).code == 250
    finally:
        await client.quit()
    assert [r.rcpt_tos for r in server.received] == [["jan@example.be"]]
