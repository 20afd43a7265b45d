"""STARTTLS and implicit TLS against a real aiosmtpd server on loopback with a certificate made for the test."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP

from club.mail.transport import SmtpTransport, TemporaryFailure
from tests.mail.smtp_server import SmtpServer

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
MESSAGE = b"From: club@example.org\r\nTo: jan@example.be\r\nSubject: TLS\r\n\r\nOver an encrypted line.\r\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


class StartTlsServer(SmtpServer):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context

    def _protocol(self) -> SMTP:
        smtp = SMTP(
            self.handler, hostname="mx.test", decode_data=False, tls_context=self.context, require_starttls=True
        )
        self.sessions.append(smtp)
        return smtp


async def test_starttls_delivers_over_an_encrypted_line(certificate):
    server = await StartTlsServer(server_context(certificate)).start()
    transport = SmtpTransport(
        host="127.0.0.1",
        port=server.port,
        security="starttls",
        tls_context=client_context(certificate),
        connections=1,
        timeout=10,
    )
    try:
        await transport.send("club@example.org", ["jan@example.be"], MESSAGE)
    finally:
        await transport.close()
        await server.stop()
    assert [r.rcpt_tos for r in server.received] == [["jan@example.be"]]
    assert b"Over an encrypted line." in server.received[0].data


async def test_a_server_that_requires_starttls_refuses_plain_text(certificate):
    server = await StartTlsServer(server_context(certificate)).start()
    transport = SmtpTransport(host="127.0.0.1", port=server.port, security="none", connections=1, timeout=10)
    try:
        with pytest.raises(TemporaryFailure):
            await transport.send("club@example.org", ["jan@example.be"], MESSAGE)
    finally:
        await transport.close()
        await server.stop()
    assert server.received == []


async def test_implicit_tls_delivers_and_an_untrusted_certificate_is_refused(certificate):
    import asyncio

    server = SmtpServer()
    loop = asyncio.get_running_loop()
    server.server = await loop.create_server(server._protocol, "127.0.0.1", 0, ssl=server_context(certificate))
    server.port = server.server.sockets[0].getsockname()[1]
    trusted = SmtpTransport(
        host="127.0.0.1",
        port=server.port,
        security="tls",
        tls_context=client_context(certificate),
        connections=1,
        timeout=10,
    )
    untrusted = SmtpTransport(host="127.0.0.1", port=server.port, security="tls", connections=1, timeout=10)
    try:
        await trusted.send("club@example.org", ["jan@example.be"], MESSAGE)
        with pytest.raises(TemporaryFailure):  # the system's CAs do not know this certificate
            await untrusted.send("club@example.org", ["sam@example.org"], MESSAGE)
    finally:
        await trusted.close()
        await untrusted.close()
        await server.stop()
    assert [r.rcpt_tos for r in server.received] == [["jan@example.be"]]
