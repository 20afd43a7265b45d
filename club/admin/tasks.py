"""The admin console's housekeeping, run by club.tasks beside the mail sender."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from club.admin import importer
from club.config import Settings
from club.tasks import Job, in_transaction


@in_transaction
async def forget_old_import_files(db: AsyncSession, settings: Settings) -> None:
    await importer.forget_old_files(db, settings)


JOBS = [Job("forget old member import files", 6 * 3600, forget_old_import_files)]
