"""No more mail to an address refused for good: the callback the mail sender is given (it never imports Person).

A module of its own, light to import: the worker process loads it before it can answer signals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import Person


async def suppress_address(db: AsyncSession, email: str, reason: str, when: dt.datetime) -> None:
    await db.execute(
        update(Person)
        .where(func.lower(Person.email) == email.lower(), Person.suppressed_at.is_(None))
        .values(suppressed_at=when, suppressed_reason=reason[:1000])
        .execution_options(synchronize_session=False)
    )
