"""Admin accounts: first-run setup, password login with throttling and lockout."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from club import ratelimit
from club.accounts import tokens
from club.accounts.models import Person
from club.accounts.passwords import hash_password, verify_password
from club.db import utcnow

SETUP_PURPOSE = "setup"
SETUP_LIFETIME = dt.timedelta(hours=1)
LOCK_WINDOW = dt.timedelta(minutes=15)
SLOW_AFTER = 3  # failures before each further attempt is slowed down
ACCOUNT_LOCK_AFTER = 10  # failures on one account within the window
IP_LOCK_AFTER = 30  # failures from one address within the window
SLOW_DOWN_SECONDS = 1.0


async def admin_exists(db: AsyncSession) -> bool:
    return bool((await db.execute(select(func.count()).select_from(Person).where(Person.role == "admin"))).scalar())


async def issue_setup_link(db: AsyncSession) -> str | None:
    """A one-time token for the first-run page, or None when an admin already exists."""
    if await admin_exists(db):
        return None
    return await tokens.issue(db, SETUP_PURPOSE, SETUP_LIFETIME)


async def create_admin(db: AsyncSession, *, email: str, name: str, password: str) -> Person:
    """Create an admin, or promote an existing person with that address to admin."""
    person = (await db.execute(select(Person).where(Person.email == email))).scalar_one_or_none()
    password_hash = await hash_password(password)
    if person is None:
        person = Person(email=email, name=name, role="admin", language="en", confirmed_at=utcnow(),
                        password_hash=password_hash)
        db.add(person)
    else:
        person.role = "admin"
        person.name = name
        person.password_hash = password_hash
        person.confirmed_at = person.confirmed_at or utcnow()
    await db.flush()
    return person


@dataclass
class LoginResult:
    person: Person | None = None
    locked: bool = False


def _keys(email: str, ip: str) -> tuple[str, str]:
    return f"admin-login:account:{email}", f"admin-login:ip:{ip}"


async def admin_login(db: AsyncSession, *, email: str, password: str, ip: str) -> LoginResult:
    account_key, ip_key = _keys(email, ip)
    failures_account = await ratelimit.count(db, account_key, LOCK_WINDOW)
    failures_ip = await ratelimit.count(db, ip_key, LOCK_WINDOW)
    if failures_account >= ACCOUNT_LOCK_AFTER or failures_ip >= IP_LOCK_AFTER:
        return LoginResult(locked=True)
    if max(failures_account, failures_ip) >= SLOW_AFTER:
        await asyncio.sleep(SLOW_DOWN_SECONDS)
    person = (
        await db.execute(select(Person).where(Person.email == email, Person.role == "admin"))
    ).scalar_one_or_none()
    if await verify_password(person.password_hash if person else None, password) and person is not None:
        await ratelimit.reset(db, account_key)
        return LoginResult(person=person)
    await ratelimit.hit(db, account_key, LOCK_WINDOW)
    await ratelimit.hit(db, ip_key, LOCK_WINDOW)
    return LoginResult()
