"""The events' housekeeping: reminders to those who said yes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from club.config import Settings
from club.events import service
from club.tasks import Job, in_transaction


@in_transaction
async def send_reminders(db: AsyncSession, settings: Settings) -> None:
    await service.send_reminders(db, settings)


JOBS = [Job("remind those who said yes to an event", 900, send_reminders)]
