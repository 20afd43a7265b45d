"""A real SMTP server (aiosmtpd) on loopback, in the test's own event loop, with scripted replies."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    # address -> reply for RCPT TO, e.g. "550 5.1.1 no such user"
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    # A reply to every RCPT TO (a relay that refuses everyone), and a delay per DATA (a slow server).
    rcpt_reply_all: str | None = None
    mail_reply: str | None = None
    data_delay: float = 0.0
    ehlo_count: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any):
        self.ehlo_count += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        if self.rcpt_reply_all:
            return self.rcpt_reply_all
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content))
        self.arrived.set()
        return "250 OK queued"


class SmtpServer:
    def __init__(self, handler: RecordingHandler | None = None, *, credentials: tuple[str, str] | None = None):
        self.handler = handler or RecordingHandler()
        self.credentials = credentials
        self.server: asyncio.Server | None = None
        self.port = 0
        self.sessions: list[SMTP] = []

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any):
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.credentials
        return AuthResult(success=ok, handled=False)

    def _protocol(self) -> SMTP:
        kwargs: dict[str, Any] = {}
        if self.credentials:
            kwargs = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        smtp = SMTP(self.handler, hostname="mx.test", decode_data=False, **kwargs)
        self.sessions.append(smtp)
        return smtp

    async def start(self, port: int = 0) -> SmtpServer:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._protocol, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.drop_connections()
            await self.server.wait_closed()
            self.server = None

    def drop_connections(self) -> None:
        for smtp in self.sessions:
            if smtp.transport is not None:
                smtp.transport.close()
        self.sessions.clear()

    @property
    def received(self) -> list[Received]:
        return self.handler.received
