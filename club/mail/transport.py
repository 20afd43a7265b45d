"""Sending built messages over SMTP.

The sender depends on `Transport` only. `SmtpTransport` keeps a pool of up to N aiosmtplib connections that stay
open between sends, reconnects when one drops, and can hold the pace to a rate limit. Every failure comes back as a
`TemporaryFailure` (4xx, timeout, dropped or refused connection: try again later) or a `PermanentFailure` (5xx:
give up, keep the reply), with the SMTP code when the server gave one.

A transaction is MAIL, RCPT and DATA through aiosmtplib's `execute_command`, then the content through its protocol.
Addresses are checked once with our own (stricter) rule instead of aiosmtplib's `email.utils` parsing four times,
and content that is already CRLF with no line starting with a dot is sent as it is. Between the server's 354 and
the content, the caller may hold it back (`ready`): the sender uses that to overlap the envelope with the
commit of the previous outcome without ever having more than one unrecorded message per connection.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

import aiosmtplib

from club.mail.message import check_address

Security = Literal["none", "starttls", "tls"]


class SendFailure(Exception):
    permanent = False

    def __init__(self, code: int | None, reply: str, *, recipient_refused: bool = False, stage: str = "") -> None:
        super().__init__(f"{code} {reply}" if code else reply)
        self.code = code
        self.reply = reply
        # True when the server refused the recipient itself (RCPT TO), the only case that suppresses an address.
        self.recipient_refused = recipient_refused
        # The command the server answered: "mail" (MAIL FROM), "rcpt", "data", or "" (connection, content).
        self.stage = stage


class TemporaryFailure(SendFailure):
    pass


class PermanentFailure(SendFailure):
    permanent = True


class Withdrawn(Exception):
    """`confirm` said no: the envelope was reset and nothing was sent."""


class Transport(Protocol):
    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        message: bytes,
        *,
        ready: Callable[[], Awaitable[object]] | None = None,
        confirm: Callable[[], Awaitable[bool]] | None = None,
    ) -> str:
        """Hand one message to the server; return its reply or raise a `SendFailure`.

        `confirm`, when given, is awaited once the server has accepted the recipients and before DATA: False resets
        the envelope and raises `Withdrawn`. `ready`, when given, is called and awaited once the server has
        answered DATA, before the content goes."""
        ...

    async def close(self) -> None: ...


# Replies about our own authentication or encryption (e.g. "530 Must issue a STARTTLS command first"): a setting
# to fix on our side, not a verdict on the message, so the mail waits for the fix instead of failing for good.
CONFIGURATION_CODES = frozenset({530, 534, 535, 538})


def _failure(code: int, reply: str, *, recipient_refused: bool = False, stage: str = "") -> SendFailure:
    permanent = 500 <= code < 600 and code not in CONFIGURATION_CODES
    kind = PermanentFailure if permanent else TemporaryFailure
    return kind(code, reply, recipient_refused=recipient_refused, stage=stage)


_LINE_ENDING_RE = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT_RE = re.compile(rb"(?m)^\.")


def _envelope_address(address: str) -> bytes:
    try:
        return b"<" + check_address(address).encode("ascii") + b">"
    except ValueError as exc:
        raise PermanentFailure(None, str(exc)) from None


def _data_block(message: bytes) -> tuple[bytes, int]:
    """The content as it goes after DATA (CRLF lines, leading dots doubled, the final dot) and its SIZE."""
    crlf = message.count(b"\r\n")
    if crlf != message.count(b"\n") or crlf != message.count(b"\r"):
        message = _LINE_ENDING_RE.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    size = len(message)
    if message.startswith(b".") or b"\n." in message:
        message = _LEADING_DOT_RE.sub(b"..", message)
    return message + b".\r\n", size


class RateLimiter:
    """Token bucket: `rate` sends per second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self.burst
        self._stamp = time.monotonic()

    async def acquire(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1
        if self._tokens < 0:
            # The debt reserves a slot for this caller; later callers queue up behind it.
            await asyncio.sleep(-self._tokens / self.rate)


class SmtpTransport:
    # A connection unused for this long is checked with NOOP first: servers drop idle clients.
    idle_check_after = 10.0

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: Security = "none",
        username: str | None = None,
        password: str | None = None,
        connections: int = 4,
        rate: float | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"smtp security must be none, starttls or tls, not {security!r}")
        if connections < 1:
            raise ValueError("at least one SMTP connection is needed")
        self.host = host
        self.port = port
        self.security = security
        self.username = username or None
        self.password = password or None
        self.connections = connections
        self.timeout = timeout
        self.tls_context = tls_context
        self.local_hostname = local_hostname or "localhost"
        self._limiter = RateLimiter(rate) if rate else None
        self._idle: asyncio.LifoQueue[tuple[aiosmtplib.SMTP, float]] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(connections)
        self._all: set[aiosmtplib.SMTP] = set()

    def _client(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=self.tls_context,
            local_hostname=self.local_hostname,
        )
        self._all.add(client)
        return client

    async def _checkout(self) -> aiosmtplib.SMTP:
        while not self._idle.empty():
            client, last_used = self._idle.get_nowait()
            if not client.is_connected:
                self._discard(client)
                continue
            if time.monotonic() - last_used > self.idle_check_after:
                try:
                    await client.noop()
                except (aiosmtplib.SMTPException, OSError):
                    self._discard(client)
                    continue
            return client
        client = self._client()
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
        except BaseException:
            self._discard(client)
            raise
        return client

    def _discard(self, client: aiosmtplib.SMTP) -> None:
        self._all.discard(client)
        client.close()

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        message: bytes,
        *,
        ready: Callable[[], Awaitable[object]] | None = None,
        confirm: Callable[[], Awaitable[bool]] | None = None,
    ) -> str:
        sender = _envelope_address(envelope_from)
        targets = [_envelope_address(recipient) for recipient in recipients]
        content, size = _data_block(message)
        if self._limiter is not None:
            await self._limiter.acquire()
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = await self._checkout()
                reply = await self._transaction(client, sender, targets, content, size, ready, confirm)
            except Withdrawn:
                self._release(client)
                raise
            except SendFailure as failure:
                if failure.code == 421 or client is None or not client.is_connected:
                    self._drop(client)
                else:
                    self._release(client)
                raise
            except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPConnectError) as exc:
                # Our configuration or the server's availability, never the message's fault.
                self._drop(client)
                raise TemporaryFailure(getattr(exc, "code", None), str(exc)) from exc
            except aiosmtplib.SMTPResponseException as exc:
                self._drop(client)
                raise _failure(exc.code, exc.message) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self._drop(client)
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise TemporaryFailure(None, reason) from exc
            except BaseException:
                # Cancelled, possibly between DATA and the content: only a new connection is in a known state.
                self._drop(client)
                raise
            self._release(client)
            return reply

    async def _transaction(
        self,
        client: aiosmtplib.SMTP,
        sender: bytes,
        recipients: list[bytes],
        content: bytes,
        size: int,
        ready: Callable[[], Awaitable[object]] | None,
        confirm: Callable[[], Awaitable[bool]] | None = None,
    ) -> str:
        options = [b"SIZE=%d" % size] if client.supports_extension("size") else []
        response = await client.execute_command(b"MAIL", b"FROM:" + sender, *options)
        if response.code != 250:
            await self._reset(client)
            raise _failure(response.code, response.message, stage="mail")
        refused = []
        for recipient in recipients:
            response = await client.execute_command(b"RCPT", b"TO:" + recipient)
            if response.code not in (250, 251):
                refused.append(response)
        if len(refused) == len(recipients):
            await self._reset(client)
            first = refused[0]
            raise _failure(first.code, first.message, recipient_refused=True, stage="rcpt")
        if confirm is not None and not await confirm():
            await self._reset(client)
            raise Withdrawn()
        response = await client.execute_command(b"DATA")
        if response.code != 354:
            await self._reset(client)
            raise _failure(response.code, response.message, stage="data")
        if ready is not None:
            await ready()
        protocol = client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        protocol.write(content)
        response = await protocol.read_response(timeout=self.timeout)
        if response.code != 250:
            raise _failure(response.code, response.message)
        return response.message

    @staticmethod
    async def _reset(client: aiosmtplib.SMTP) -> None:
        """Clear a refused envelope so the connection can carry the next message."""
        if client.is_connected:
            try:
                await client.rset()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

    def _release(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None and client.is_connected:
            self._idle.put_nowait((client, time.monotonic()))
        elif client is not None:
            self._discard(client)

    def _drop(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None:
            self._discard(client)

    async def close(self) -> None:
        while not self._idle.empty():
            client, _ = self._idle.get_nowait()
            if client.is_connected:
                try:
                    await asyncio.wait_for(client.quit(), 2)
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    pass
        for client in list(self._all):
            self._discard(client)
