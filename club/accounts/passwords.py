"""Admin passwords: argon2id with OWASP's parameters, a length floor and a common-password list."""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.datastructures import FormData

from club.forms import Errors, Invalid, field
from club.i18n import N_

MIN_LENGTH = 12
MAX_LENGTH = 256

# OWASP Password Storage Cheat Sheet: argon2id, 19 MiB of memory, 2 iterations, 1 degree of parallelism.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verifying against this keeps an unknown account as slow as a known one.
_DUMMY_HASH = hasher.hash("timing-equaliser-not-a-password")


@cache
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, email: str = "") -> str | None:
    """The reason a new password is refused (untranslated message id), or None."""
    if len(password) < MIN_LENGTH:
        return N_("Use at least 12 characters.")
    if len(password) > MAX_LENGTH:
        return N_("Use at most 256 characters.")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) < 4:
        return N_("This password is too common. Choose one that is hard to guess.")
    if email and lowered == email.lower():
        return N_("Your password cannot be your email address.")
    return None


def read_new_password(form: FormData, errors: Errors, *, email: str) -> str:
    """The new password of a form with `password` and `password_again`; what is wrong with it goes into errors."""
    password = field(form, "password")
    problem = password_problem(password, email=email)
    if problem:
        errors.add("password", Invalid(problem))
    elif password != field(form, "password_again"):
        errors.add("password_again", Invalid(N_("The two passwords are not the same.")))
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return hasher.verify(password_hash or _DUMMY_HASH, password[:MAX_LENGTH]) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
