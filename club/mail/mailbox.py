"""The development mailbox: an SMTP server (aiosmtpd) on loopback that keeps what it catches as .eml files.

Files under var/mailbox rather than memory, so every process sees the same mail: the web process that shows
/admin/mailbox, and a separate `server.py worker` that delivers to the port written in var/mailbox/port.
The newest `KEEP` mails are kept. It exists only outside production. The file names sort by arrival, so a page of
the list reads only the headers of its own `PAGE_SIZE` files, however many the mailbox holds. It logs counts, never
addresses (aiosmtpd's own log names every sender and recipient at INFO).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

log = logging.getLogger("club.mail.mailbox")

KEEP = 5000
PAGE_SIZE = 50
_ID_RE = re.compile(r"^[0-9]{19,20}-[0-9a-f]{8}$")
# The longest head of a file read for the list: the headers of our own mail are far shorter.
_HEAD_BYTES = 32 * 1024


def mailbox_dir(var_dir: Path) -> Path:
    return var_dir / "mailbox"


class MailboxHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        name = f"{time.time_ns()}-{secrets.token_hex(4)}"
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / (name + ".tmp")
        temporary.write_bytes(data)
        temporary.rename(self.folder / (name + ".eml"))
        kept = self._prune()
        recipients = len(getattr(envelope, "rcpt_tos", None) or ())
        log.info("development mailbox: caught a mail for %d recipient(s); %d kept", recipients, kept)
        return "250 OK caught by the development mailbox"

    def _prune(self) -> int:
        names = _names(self.folder)
        if len(names) <= KEEP:
            return len(names)
        names.sort()
        for old in names[: len(names) - KEEP]:
            (self.folder / old).unlink(missing_ok=True)
        return KEEP


def _names(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries if entry.name.endswith(".eml")]
    except FileNotFoundError:
        return []


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


@contextlib.asynccontextmanager
async def running_mailbox(var_dir: Path) -> AsyncIterator[int]:
    """The mailbox's port: the one another process of this checkout already runs, or a new one."""
    folder = mailbox_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # aiosmtpd logs "sender: <address>" and "recip: <address>" at INFO: only its warnings and errors here.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    port_file = folder / "port"
    if port_file.is_file():
        with contextlib.suppress(ValueError):
            port = int(port_file.read_text().strip())
            if await _listening(port):
                yield port
                return
    handler = MailboxHandler(folder)
    # aiosmtpd logs every sender and recipient address at INFO: the development mailbox keeps them out of the log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="mailbox.localhost"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    port_file.write_text(str(port))
    try:
        yield port
    finally:
        server.close()
        with contextlib.suppress(OSError, ValueError):
            if int(port_file.read_text().strip()) == port:
                port_file.unlink()


@dataclass
class CaughtMail:
    id: str
    sender: str
    to: str
    subject: str
    date: str
    message: EmailMessage | None = None

    @property
    def received_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(self.id.split("-", 1)[0]) / 1e9, dt.UTC)

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",)) if self.message else None
        return str(part.get_content()).replace("\r\n", "\n") if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",)) if self.message else None
        return str(part.get_content()) if part is not None else ""

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in self.message.items()] if self.message else []


def _parse(path: Path, *, full: bool) -> CaughtMail:
    if full:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
    else:
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES)
        end = head.find(b"\r\n\r\n")
        message = BytesHeaderParser(policy=policy.default).parsebytes(head[: end + 2] if end >= 0 else head)
    assert isinstance(message, EmailMessage)
    return CaughtMail(
        id=path.stem,
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        date=str(message.get("Date", "")),
        message=message if full else None,
    )


def forget_address(var_dir: Path, email: str) -> int:
    """Delete the caught mails to (or mentioning) an address, as when its member is erased; returns how many."""
    needle = email.strip().lower().encode()
    removed = 0
    if not needle:
        return 0
    folder = mailbox_dir(var_dir)
    for name in _names(folder):
        path = folder / name
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            message = message_from_bytes(data, policy=policy.default)
            recipients = " ".join(str(message.get(header, "")) for header in ("To", "Cc", "Bcc")).lower()
            if needle in data.lower() or email.strip().lower() in recipients:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


@dataclass
class MailboxPage:
    mails: list[CaughtMail]
    total: int
    page: int
    pages: int
    keep: int = KEEP


def mailbox_page(var_dir: Path, page: int = 1, size: int = PAGE_SIZE) -> MailboxPage:
    """One page of the caught mail, newest first."""
    folder = mailbox_dir(var_dir)
    names = sorted(_names(folder), reverse=True)
    pages = max(1, -(-len(names) // size))
    page = min(max(1, page), pages)
    mails = []
    for name in names[(page - 1) * size : page * size]:
        with contextlib.suppress(FileNotFoundError):  # pruned meanwhile
            mails.append(_parse(folder / name, full=False))
    return MailboxPage(mails, len(names), page, pages)


def list_mails(var_dir: Path, limit: int = 200) -> list[CaughtMail]:
    return mailbox_page(var_dir, 1, limit).mails


def read_mail(var_dir: Path, mail_id: str) -> CaughtMail | None:
    if not _ID_RE.match(mail_id):
        return None
    path = mailbox_dir(var_dir) / f"{mail_id}.eml"
    return _parse(path, full=True) if path.is_file() else None
