"""Holds on all mail, opened by the sender when the relay refuses systemically, lifted by an admin; and the
members a systemic refusal suppressed before the sender knew better, released in bulk."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import Person
from club.db import utcnow
from club.mail.models import Hold
from club.mail.sender import SYSTEMIC_RECIPIENTS, reply_pattern


async def open_hold(db: AsyncSession) -> Hold | None:
    return (
        await db.execute(select(Hold).where(Hold.resolved_at.is_(None)).order_by(Hold.id).limit(1))
    ).scalar_one_or_none()


async def lift(db: AsyncSession) -> Hold | None:
    """Let the senders claim mail again; the deliveries held meanwhile simply wait in the queue."""
    hold = await open_hold(db)
    if hold is not None:
        await db.execute(update(Hold).where(Hold.resolved_at.is_(None)).values(resolved_at=utcnow()))
    return hold


@dataclass(frozen=True)
class SuppressionGroup:
    """Members suppressed with the same reply (addresses left out): many of them means the relay, not them."""

    pattern: str
    count: int
    first: object
    last: object


async def suppression_groups(db: AsyncSession, minimum: int = SYSTEMIC_RECIPIENTS) -> list[SuppressionGroup]:
    rows = await db.execute(
        select(Person.suppressed_reason, Person.suppressed_at).where(
            Person.suppressed_at.is_not(None), Person.suppressed_reason.is_not(None)
        )
    )
    groups: dict[str, list[object]] = {}
    for reason, when in rows:
        code, _, reply = str(reason).partition(" ")
        pattern = reply_pattern(int(code) if code.isdigit() else None, reply if code.isdigit() else str(reason))
        groups.setdefault(pattern, []).append(when)
    return sorted(
        (
            SuppressionGroup(pattern, len(times), min(times), max(times))  # type: ignore[type-var]
            for pattern, times in groups.items()
            if len(times) >= minimum
        ),
        key=lambda group: -group.count,
    )


async def release_suppressed(db: AsyncSession, pattern: str) -> list[int]:
    """Lift the suppression of every member suppressed with this reply pattern, when it is a systemic one (as many
    as `suppression_groups` lists); returns their ids."""
    rows = await db.execute(
        select(Person.id, Person.suppressed_reason).where(
            Person.suppressed_at.is_not(None), Person.suppressed_reason.is_not(None)
        )
    )
    ids = []
    for person_id, reason in rows:
        code, _, reply = str(reason).partition(" ")
        if reply_pattern(int(code) if code.isdigit() else None, reply if code.isdigit() else str(reason)) == pattern:
            ids.append(person_id)
    if len(ids) < SYSTEMIC_RECIPIENTS:
        return []  # a refusal this rare is about its recipients: release them one by one on their own pages
    for start in range(0, len(ids), 500):
        await db.execute(
            update(Person)
            .where(Person.id.in_(ids[start : start + 500]))
            .values(suppressed_at=None, suppressed_reason=None)
            .execution_options(synchronize_session=False)
        )
    return ids
