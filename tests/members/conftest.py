"""Members' fixtures: a real mail sender delivering into the aiosmtpd mailbox, and helpers to read its mail."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.suppression import suppress_address
from club.config import Settings
from club.db import create_sessionmaker
from club.mail.sender import sender_from_settings, transport_from_settings
from club.members import service
from tests.conftest import Mailbox

LINK_RE = re.compile(r"http://testserver(/[^\s<>\"]+)")


@pytest.fixture(autouse=True)
async def interests(db: AsyncSession) -> None:
    """The interests the migration seeds; PostgreSQL runs empty every table between tests, seeds included."""
    if await service.seed_interests(db):
        await db.commit()


@pytest.fixture
async def mailbox(smtp_server: tuple[Mailbox, int], settings: Settings, engine: AsyncEngine) -> AsyncIterator[Mailbox]:
    """The loopback SMTP server's mailbox, with the outbox's sender running against it."""
    box, port = smtp_server
    transport = transport_from_settings(settings, port=port)
    sender = sender_from_settings(settings, create_sessionmaker(engine), transport, suppress=suppress_address,
                                  poll_interval=0.02)
    task = asyncio.create_task(sender.run())
    yield box
    sender.stop()
    await asyncio.wait_for(task, 20)
    await transport.close()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage) -> str:
    """The path of the first link to the club in a mail's text part."""
    match = LINK_RE.search(text_of(message))
    assert match, text_of(message)
    return match.group(1)


def client_from(app: object, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def signup(token: str, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": "hanako@example.jp",
        "name": "山田 花子",
        "city": "kanazawa",
        "language": "ja",
        "interests": ["jazz-music", "food"],
        "newsletter": "yes",
        "csrf_token": token,
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}
