"""The ambassadors' periodic pass, run by club.tasks beside the mail sender: terms that start or end change
roles, quiet ambassadors get a reminder."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from club.ambassadors import service
from club.config import Settings
from club.db import transaction
from club.tasks import Job

log = logging.getLogger("club.ambassadors")


async def run_once(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> tuple[int, int]:
    """One pass; returns (roles changed, reminders queued)."""
    async with transaction(sessionmaker) as db:
        changed = await service.sync_roles(db)
    async with transaction(sessionmaker) as db:
        reminded = await service.send_reminders(db, settings)
    if changed or reminded:
        log.info("ambassadors: %d role(s) changed, %d reminder(s) queued", changed, reminded)
    return changed, reminded


JOBS = [Job("ambassador terms and reminders", 3600, run_once)]
