"""Admins' optional second factor: TOTP codes (RFC 6238, via pyotp) and single-use recovery codes.

A code is accepted for the current 30-second step and one step either side (clock drift), and only once: the
step of the last accepted code is stored, and no code of that step or an earlier one is taken again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import RecoveryCode, SecondFactor
from club.db import utcnow

ISSUER = "Ghent-Kanazawa Supporters Club"
RECOVERY_CODES = 10
DRIFT_STEPS = 1


async def factor_of(db: AsyncSession, person_id: int) -> SecondFactor | None:
    return await db.get(SecondFactor, person_id)


async def is_enabled(db: AsyncSession, person_id: int) -> bool:
    factor = await factor_of(db, person_id)
    return factor is not None and factor.enabled_at is not None


async def start_enrolment(db: AsyncSession, person_id: int) -> SecondFactor:
    """A fresh secret, not yet in force until a first code proves the phone has it."""
    factor = await factor_of(db, person_id)
    if factor is None:
        factor = SecondFactor(person_id=person_id, secret=pyotp.random_base32(), last_step=0)
        db.add(factor)
    elif factor.enabled_at is None:
        factor.secret = pyotp.random_base32()
    await db.flush()
    return factor


def provisioning_uri(factor: SecondFactor, email: str) -> str:
    return pyotp.TOTP(factor.secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def clean_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step whose code this is (within the drift allowed), or None."""
    code = clean_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC))
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def verify_code(db: AsyncSession, factor: SecondFactor, code: str, *, now: float | None = None) -> bool:
    """Accept a code once: a conditional UPDATE moves last_step forward, so a replayed code (even by a second
    request at the same moment) finds nothing to update."""
    step = matching_step(factor.secret, code, now=now)
    if step is None or step <= factor.last_step:
        return False
    result = await db.execute(
        update(SecondFactor)
        .where(SecondFactor.person_id == factor.person_id, SecondFactor.last_step < step)
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    factor.last_step = step
    return True


async def enable(db: AsyncSession, factor: SecondFactor, code: str, *, now: float | None = None) -> list[str] | None:
    """Turn the factor on with a first good code; returns the recovery codes to show once, or None."""
    if not await verify_code(db, factor, code, now=now):
        return None
    factor.enabled_at = utcnow()
    return await new_recovery_codes(db, factor.person_id)


async def disable(db: AsyncSession, person_id: int) -> None:
    await db.execute(delete(SecondFactor).where(SecondFactor.person_id == person_id))
    await db.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person_id))


def _hash(code: str) -> str:
    return hashlib.sha256(clean_code(code).encode()).hexdigest()


async def new_recovery_codes(db: AsyncSession, person_id: int) -> list[str]:
    await db.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 40 random bits each, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
    db.add_all(RecoveryCode(person_id=person_id, code_hash=_hash(code)) for code in codes)
    await db.flush()
    return codes


async def use_recovery_code(db: AsyncSession, person_id: int, code: str) -> bool:
    cleaned = clean_code(code)
    if len(cleaned) != 10:
        return False
    result = await db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.person_id == person_id,
            RecoveryCode.code_hash == _hash(cleaned),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def recovery_codes_left(db: AsyncSession, person_id: int) -> int:
    rows = await db.execute(
        select(RecoveryCode.id).where(RecoveryCode.person_id == person_id, RecoveryCode.used_at.is_(None))
    )
    return len(rows.all())


async def check(db: AsyncSession, person_id: int, code: str, *, now: float | None = None) -> str | None:
    """At login: 'totp' or 'recovery' for an accepted code, None otherwise."""
    factor = await factor_of(db, person_id)
    if factor is None or factor.enabled_at is None:
        return None
    if await verify_code(db, factor, code, now=now):
        return "totp"
    if await use_recovery_code(db, person_id, code):
        return "recovery"
    return None
