"""Admin accounts: first-run setup, password login with throttling and lockout."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from club import ratelimit
from club.accounts import tokens, totp
from club.accounts.models import Person
from club.accounts.passwords import hash_password, verify_password
from club.db import utcnow

SETUP_PURPOSE = "setup"
SETUP_LIFETIME = dt.timedelta(hours=1)
LOCK_WINDOW = dt.timedelta(minutes=15)
SLOW_AFTER = 3  # failures of one account from one address before each further attempt is slowed down
# Attempts on one account from one address within the window: an attacker elsewhere locks out only themselves,
# and the owner still logs in from their usual place.
ACCOUNT_LOCK_AFTER = 10
IP_LOCK_AFTER = 30  # attempts from one address, on any accounts, within the window
SLOW_DOWN_SECONDS = 1.0
SECOND_FACTOR_PURPOSE = "admin-second-factor"
SECOND_FACTOR_LIFETIME = dt.timedelta(minutes=5)
SECOND_FACTOR_LOCK_AFTER = 5  # wrong codes on one account within the window


async def admin_exists(db: AsyncSession) -> bool:
    return bool((await db.execute(select(func.count()).select_from(Person).where(Person.role == "admin"))).scalar())


async def issue_setup_link(db: AsyncSession) -> str | None:
    """A one-time token for the first-run page, or None when an admin already exists."""
    if await admin_exists(db):
        return None
    return await tokens.issue(db, SETUP_PURPOSE, SETUP_LIFETIME)


async def create_admin(db: AsyncSession, *, email: str, name: str, password: str, language: str = "en") -> Person:
    """Create an admin, or promote an existing person with that address to admin. language is the one they set
    up or accepted the invitation in: a new admin gets it for everything, an existing member for the console
    (their mail keeps the language they chose as a member)."""
    person = (await db.execute(select(Person).where(Person.email == email))).scalar_one_or_none()
    password_hash = await hash_password(password)
    if person is None:
        person = Person(
            email=email, name=name, role="admin", language=language, confirmed_at=utcnow(), password_hash=password_hash
        )
        db.add(person)
    else:
        person.role = "admin"
        person.name = name
        person.password_hash = password_hash
        person.confirmed_at = person.confirmed_at or utcnow()
        person.console_language = language if language != person.language else None
    await db.flush()
    return person


@dataclass
class LoginResult:
    person: Person | None = None
    locked: bool = False


async def _count_attempt(db: AsyncSession, keys_and_limits: list[tuple[str, int]]) -> list[int] | None:
    """Count an attempt before making it, one atomic statement per key, and commit at once: parallel
    requests each get their own number, so no more than the limit are ever checked, and the count stands even
    if the request fails later. Returns this attempt's number per key, or None when any key is over its limit
    (then nothing is checked; a key this process knows to be over asks no database at all)."""
    if any(ratelimit.blocked(db, key) for key, _limit in keys_and_limits):
        return None
    numbers = [await ratelimit.hit(db, key, LOCK_WINDOW, limit=limit) for key, limit in keys_and_limits]
    await db.commit()  # the request's transaction: kept short, and ended before the slow password check
    if any(number > limit for number, (_key, limit) in zip(numbers, keys_and_limits, strict=True)):
        return None
    return numbers


async def admin_login(db: AsyncSession, *, email: str, password: str, ip: str) -> LoginResult:
    account_key, ip_key = f"admin-login:account-ip:{email}:{ip}", f"admin-login:ip:{ip}"
    numbers = await _count_attempt(db, [(account_key, ACCOUNT_LOCK_AFTER), (ip_key, IP_LOCK_AFTER)])
    if numbers is None:
        return LoginResult(locked=True)
    if numbers[0] - 1 >= SLOW_AFTER:  # earlier attempts on this account from this address
        await asyncio.sleep(SLOW_DOWN_SECONDS)
    person = (
        await db.execute(select(Person).where(Person.email == email, Person.role == "admin"))
    ).scalar_one_or_none()
    if await verify_password(person.password_hash if person else None, password) and person is not None:
        await ratelimit.reset(db, account_key)
        return LoginResult(person=person)
    return LoginResult()


@dataclass
class SecondFactorResult:
    person: Person | None = None
    locked: bool = False
    expired: bool = False
    method: str | None = None  # "totp" or "recovery"


async def start_second_factor(db: AsyncSession, person: Person) -> str:
    """After a right password: a short-lived token that stands for "password checked", for the code form."""
    return await tokens.issue(db, SECOND_FACTOR_PURPOSE, SECOND_FACTOR_LIFETIME, person_id=person.id)


async def finish_second_factor(
    db: AsyncSession, *, raw_token: str, code: str, now: float | None = None
) -> SecondFactorResult:
    """Check a TOTP or recovery code against a pending login. Each code works once; a code from more than one
    step (30 s) away is refused; after SECOND_FACTOR_LOCK_AFTER wrong codes the pending login ends."""
    token = await tokens.peek(db, SECOND_FACTOR_PURPOSE, raw_token)
    if token is None or token.person_id is None:
        return SecondFactorResult(expired=True)
    key = f"admin-2fa:account:{token.person_id}"
    if await _count_attempt(db, [(key, SECOND_FACTOR_LOCK_AFTER)]) is None:
        await tokens.revoke_all(db, SECOND_FACTOR_PURPOSE, person_id=token.person_id)
        return SecondFactorResult(locked=True)
    method = await totp.check(db, token.person_id, code, now=now)
    if method is None:
        return SecondFactorResult()
    if await tokens.consume(db, SECOND_FACTOR_PURPOSE, raw_token) is None:
        return SecondFactorResult(expired=True)
    await ratelimit.reset(db, key)
    person = await db.get(Person, token.person_id)
    if person is None or person.role != "admin":
        return SecondFactorResult(expired=True)
    return SecondFactorResult(person=person, method=method)
