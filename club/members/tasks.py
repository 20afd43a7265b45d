"""Members' housekeeping, run by club.tasks beside the mail sender."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from club.config import Settings
from club.members import service
from club.tasks import Job, in_transaction


@in_transaction
async def purge_unconfirmed(db: AsyncSession, settings: Settings) -> None:
    await service.purge_unconfirmed(db)


JOBS = [Job("purge unconfirmed sign-ups", 6 * 3600, purge_unconfirmed)]
