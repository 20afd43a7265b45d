"""Single-use tokens for links in mail and the first-run setup link."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import OneTimeToken
from club.db import utcnow

MAX_TOKEN_LENGTH = 100


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


async def issue(
    db: AsyncSession, purpose: str, ttl: dt.timedelta, *, person_id: int | None = None, data: str | None = None
) -> str:
    """Store a new token and return the raw value to put in a link (256 random bits)."""
    raw = secrets.token_urlsafe(32)
    db.add(OneTimeToken(id=token_hash(raw), purpose=purpose, person_id=person_id, data=data, expires_at=utcnow() + ttl))
    await db.flush()
    return raw


async def peek(db: AsyncSession, purpose: str, raw: str) -> OneTimeToken | None:
    """The token if it is valid and unused, without using it (for a GET that shows a confirm button)."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    token = await db.get(OneTimeToken, token_hash(raw))
    if token is None or token.purpose != purpose or token.used_at is not None or token.expires_at <= utcnow():
        return None
    return token


async def consume(db: AsyncSession, purpose: str, raw: str) -> OneTimeToken | None:
    """Use the token once. Two requests racing for it: exactly one wins (a conditional UPDATE)."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    now = utcnow()
    digest = token_hash(raw)
    result = await db.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.id == digest,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return (await db.execute(select(OneTimeToken).where(OneTimeToken.id == digest))).scalar_one()


async def revoke_all(db: AsyncSession, purpose: str, *, person_id: int | None = None) -> None:
    statement = delete(OneTimeToken).where(OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None))
    if person_id is not None:
        statement = statement.where(OneTimeToken.person_id == person_id)
    await db.execute(statement)


async def purge_expired(db: AsyncSession, older_than: dt.timedelta = dt.timedelta(days=7)) -> None:
    await db.execute(delete(OneTimeToken).where(OneTimeToken.expires_at < utcnow() - older_than))
