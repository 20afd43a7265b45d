"""Server-side sessions: the cookie carries a random id; the server can revoke it at any time."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from club.accounts.models import AuthSession, Person
from club.config import Settings
from club.db import utcnow
from club.requestinfo import client_ip, settings_of

SESSION_LIFETIME = dt.timedelta(days=14)
ADMIN_SESSION_LIFETIME = dt.timedelta(hours=12)
TOUCH_EVERY = dt.timedelta(minutes=5)


def cookie_name(settings: Settings) -> str:
    return "__Host-club_session" if settings.is_production else "club_session"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


# Built once: building it costs more than running it, on every request with a session cookie.
_LOGGED_IN = (
    select(AuthSession, Person)
    .join(Person, Person.id == AuthSession.person_id)
    .where(AuthSession.id == bindparam("id"), AuthSession.expires_at > bindparam("now"))
)


@functools.cache
def _logged_in_with(also: tuple[ColumnElement[Any], ...]) -> Select[Any]:
    return _LOGGED_IN.add_columns(*also)


async def load(
    request: Request, db: AsyncSession, *also: ColumnElement[Any]
) -> tuple[AuthSession, Person, tuple[Any, ...]] | None:
    """The request's session and person, or None; with `also`, more values (scalar subqueries) read in the same
    statement, a round trip fewer: the admin guard's two-factor rule, a route's `reads` (club.web.route)."""
    settings = settings_of(request)
    raw = request.cookies.get(cookie_name(settings))
    if not raw or len(raw) > 100:
        return None
    now = utcnow()
    statement = _logged_in_with(also) if also else _LOGGED_IN
    row = (await db.execute(statement, {"id": _digest(raw), "now": now})).first()
    if row is None:
        return None
    auth_session, person = row[0], row[1]
    if now - auth_session.last_seen_at > TOUCH_EVERY:
        auth_session.last_seen_at = now
    return auth_session, person, tuple(row[2:])


async def start(request: Request, db: AsyncSession, response: Response, person: Person) -> None:
    """Log in: drop the session the browser had (a new id at every login) and set a fresh one."""
    settings = settings_of(request)
    old = request.cookies.get(cookie_name(settings))
    if old and len(old) <= 100:
        await db.execute(delete(AuthSession).where(AuthSession.id == _digest(old)))
    raw = secrets.token_urlsafe(32)
    lifetime = ADMIN_SESSION_LIFETIME if person.role == "admin" else SESSION_LIFETIME
    db.add(
        AuthSession(
            id=_digest(raw),
            person_id=person.id,
            expires_at=utcnow() + lifetime,
            ip=client_ip(request) or None,
            user_agent=(request.headers.get("user-agent") or "")[:300],
        )
    )
    await db.flush()
    response.set_cookie(
        cookie_name(settings),
        raw,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        secure=settings.is_production,
        samesite="lax",
    )


async def end(request: Request, db: AsyncSession, response: Response) -> None:
    settings = settings_of(request)
    raw = request.cookies.get(cookie_name(settings))
    if raw and len(raw) <= 100:
        await db.execute(delete(AuthSession).where(AuthSession.id == _digest(raw)))
    response.delete_cookie(
        cookie_name(settings), path="/", secure=settings.is_production, httponly=True, samesite="lax"
    )


async def revoke_all(db: AsyncSession, person_id: int) -> None:
    """Log a person out everywhere: on logout-all, role changes and erasure."""
    await db.execute(delete(AuthSession).where(AuthSession.person_id == person_id))


async def purge_expired(db: AsyncSession) -> int:
    """Delete logins past their expiry (they hold an address and a browser); returns how many."""
    result = await db.execute(delete(AuthSession).where(AuthSession.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
