"""The audit log: every admin action is recorded here, in the action's own transaction.

Other features call it from their admin routes:

    await audit.record(db, request, "newsletter.send", "newsletter", newsletter.id, {"recipients": 1234})

The app offers no way to edit or delete entries.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from club.admin.models import AuditEntry
from club.admin.search import escape_like

PAGE_SIZE = 50


def client_address(request: Request | None) -> str:
    if request is None:
        return ""
    return (request.client.host if request.client else "")[:64]


async def record(
    db: AsyncSession,
    request: Request | None,
    action: str,
    target_type: str = "",
    target_id: object = "",
    details: dict[str, Any] | None = None,
    *,
    actor_email: str | None = None,
) -> AuditEntry:
    """Add one entry. The actor is the person logged in on the request (None and actor_email for the CLI)."""
    actor = getattr(request.state, "person", None) if request is not None else None
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_email=(actor.email if actor is not None else actor_email or "")[:254],
        action=action[:60],
        target_type=target_type[:40],
        target_id=str(target_id if target_id is not None else "")[:64],
        details=json.dumps(details or {}, ensure_ascii=False, default=str, sort_keys=True),
        ip=client_address(request),
    )
    db.add(entry)
    await db.flush()
    return entry


@dataclass
class AuditFilter:
    q: str = ""  # part of the actor's address, the action or the details
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    before: int | None = None  # keyset: entries older than this id


def audit_query(where: AuditFilter) -> Select[AuditEntry]:
    statement = select(AuditEntry)
    if where.q:
        pattern = f"%{escape_like(where.q.lower())}%"
        statement = statement.where(
            or_(
                func.lower(AuditEntry.actor_email).like(pattern, escape="\\"),
                func.lower(AuditEntry.details).like(pattern, escape="\\"),
                AuditEntry.ip.like(pattern, escape="\\"),
            )
        )
    if where.action:
        statement = statement.where(AuditEntry.action == where.action)
    if where.target_type:
        statement = statement.where(AuditEntry.target_type == where.target_type)
    if where.target_id:
        statement = statement.where(AuditEntry.target_id == where.target_id)
    if where.since:
        statement = statement.where(AuditEntry.created_at >= _start_of(where.since))
    if where.until:
        statement = statement.where(AuditEntry.created_at < _start_of(where.until + dt.timedelta(days=1)))
    if where.before:
        statement = statement.where(AuditEntry.id < where.before)
    return statement.order_by(AuditEntry.id.desc())


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


async def entries(db: AsyncSession, where: AuditFilter, limit: int = PAGE_SIZE) -> tuple[list[AuditEntry], int | None]:
    """A page of entries, newest first, and the id to continue from (None on the last page)."""
    rows = list((await db.execute(audit_query(where).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


async def actions(db: AsyncSession) -> list[str]:
    return list((await db.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action))).scalars())


def details_of(entry: AuditEntry) -> dict[str, Any]:
    try:
        value = json.loads(entry.details)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# Values an entry about a member may hold that identify them; an edit keeps which fields changed, not their values.
PERSONAL_FIELDS = frozenset({"name", "email", "city", "language", "interests"})


def without_personal_values(details: dict[str, Any]) -> dict[str, Any]:
    """The details of an entry about a member as they are kept: which fields an edit changed (the role with its
    values: who became admin is the audit's business), whether a suppression gave a reason, not its text."""
    kept = dict(details)
    changes = kept.pop("changes", None)
    if isinstance(changes, dict):
        kept["fields"] = sorted(changes)
        if isinstance(changes.get("role"), list):
            kept["role"] = changes["role"]
    if "reason" in kept:
        kept["with_reason"] = bool(kept.pop("reason"))
    return kept


def _scrub(value: Any, needles: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {key: _scrub(item, needles) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, needles) for item in value]
    if isinstance(value, str) and any(needle in value.lower() for needle in needles):
        return ""
    return value


async def forget_person(db: AsyncSession, person_id: int, email: str, name: str) -> int:
    """Take an erased person out of the log: entries about them keep what was done, by whom, when, and which
    fields changed, but not their id; no entry keeps their address or name. Returns how many entries changed."""
    about = (AuditEntry.target_type == "person") & (AuditEntry.target_id == str(person_id))
    pattern = f"%{escape_like(email.lower())}%"
    mentions = or_(
        func.lower(AuditEntry.details).like(pattern, escape="\\"),
        func.lower(AuditEntry.actor_email) == email.lower(),
        func.lower(AuditEntry.target_id) == email.lower(),
    )
    found = list((await db.execute(select(AuditEntry).where(or_(about, mentions)))).scalars())
    for entry in found:
        details = details_of(entry)
        is_about = entry.target_type == "person" and entry.target_id == str(person_id)
        if is_about:
            details = without_personal_values(details)
        needles = tuple(n for n in ((email.lower(), name.strip().lower()) if is_about else (email.lower(),)) if n)
        entry.details = json.dumps(_scrub(details, needles), ensure_ascii=False, default=str, sort_keys=True)
        if entry.actor_email.lower() == email.lower():
            entry.actor_email = ""
        if is_about or entry.target_id.lower() == email.lower():
            entry.target_id = ""  # what was done stays; to whom, once erased, does not
    await db.flush()
    return len(found)
