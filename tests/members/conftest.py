"""Members' fixtures: the seeded interests, and a real mail sender delivering into the aiosmtpd mailbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.suppression import suppress_address
from club.config import Settings
from club.db import create_sessionmaker
from club.mail.sender import sender_from_settings, transport_from_settings
from club.members import service
from tests.helpers import Mailbox


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
    sender = sender_from_settings(
        settings, create_sessionmaker(engine), transport, suppress=suppress_address, poll_interval=0.02
    )
    task = asyncio.create_task(sender.run())
    yield box
    sender.stop()
    await asyncio.wait_for(task, 20)
    await transport.close()
