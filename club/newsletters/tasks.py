"""Newsletters' housekeeping: start scheduled sends when they are due, mark finished sends as sent."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from club.config import Settings
from club.newsletters import service
from club.tasks import Job


async def start_due_newsletters(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    await service.run_due(sessionmaker, settings)


JOBS = [Job("start due newsletters", 15, start_due_newsletters)]
