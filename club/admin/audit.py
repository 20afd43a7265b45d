"""The audit log: every admin action is recorded here, in the action's own transaction.

club.web.route() records every admin POST that succeeds, named after its feature and route
("newsletters.pause"), with the record from the path ("newsletter", 12). A handler adds details with

    audit.note(request, recipients=1234)

or records its own entry instead (then the route records nothing more):

    await audit.record(db, request, "member.edit", "person", person.id, {"changes": [...]})

Logins, failed logins and lockouts are recorded by the login routes. The app offers no way to edit or delete
entries. ACTION_LABELS and DETAIL_LABELS give each action and detail its words in the admin's language.
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
from club.i18n import N_, _, format_number
from club.requestinfo import client_ip

PAGE_SIZE = 50


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
        ip=client_ip(request),
    )
    db.add(entry)
    await db.flush()
    if request is not None:
        request.state.audited = True
    return entry


# Admin POSTs that change nothing (a live preview): the route records no entry for them.
NOT_ACTIONS = frozenset({"newsletters.live_preview", "newsletters.live_preview_text"})

# Form fields worth keeping with a route's entry (never personal data or free text).
FORM_DETAILS = {
    "ambassadors.review": ("action",),
    "newsletters.schedule": ("send_at", "zone", "timezone"),
    "newsletters.test_send": (),
}


def note(request: Request, **details: Any) -> None:
    """Details for the entry the route records when the handler succeeds."""
    noted: dict[str, Any] = getattr(request.state, "audit_details", None) or {}
    noted.update(details)
    request.state.audit_details = noted


def about(request: Request, target_type: str, target_id: object) -> None:
    """The record the route's entry is about, when the path does not name it (a new appointment's member)."""
    request.state.audit_target = (target_type, str(target_id))


def _target_of(path_params: dict[str, Any]) -> tuple[str, str]:
    for key, value in path_params.items():
        if key.endswith("_id"):
            return key[:-3], str(value)
    for key, value in path_params.items():
        return key, str(value)
    return "", ""


async def record_route(db: AsyncSession, request: Request, feature: str, route_name: str) -> None:
    """The entry club.web.route() adds after an admin POST succeeded, unless the handler recorded one."""
    action = f"{feature}.{route_name}"
    if getattr(request.state, "audited", False) or action in NOT_ACTIONS:
        return
    details: dict[str, Any] = {}
    form = getattr(request, "_form", None)  # the form the handler read, cached by Starlette
    if form is not None:
        for key in FORM_DETAILS.get(action, ()):
            value = form.get(key)
            if isinstance(value, str) and value:
                details[key] = value[:100]
    details.update(getattr(request.state, "audit_details", None) or {})
    target_type, target_id = getattr(request.state, "audit_target", None) or _target_of(request.path_params)
    await record(db, request, action, target_type, target_id, details)


ACTION_LABELS = {
    # members and imports
    "member.export": N_("Exported members"),
    "member.edit": N_("Edited a member"),
    "member.suppress": N_("Stopped all mail to a member"),
    "member.unsuppress": N_("Allowed mail to a member again"),
    "member.delete": N_("Deleted a member"),
    "member.session.revoke": N_("Ended a member's session"),
    "member.repermission": N_("Sent a re-permission mail"),
    "member.import.check": N_("Checked an import file"),
    "member.import.start": N_("Started an import"),
    "member.import.cancel": N_("Cancelled an import"),
    "member.import.finish": N_("Import finished"),
    "admin.import_upload": N_("Checked an import file"),
    "admin.import_run": N_("Started an import"),
    "admin.import_cancel": N_("Cancelled an import"),
    "member.import.repermission": N_("Asked an import's members for permission by mail"),
    "admin.import_repermission": N_("Asked an import's members for permission by mail"),
    "member.import.rejected": N_("Downloaded an import's rejected rows"),
    "admin.member_edit_post": N_("Edited a member"),
    # the same, as route() names them when a handler records nothing of its own (nothing needed doing)
    "admin.member_suppress": N_("Stopped all mail to a member"),
    "admin.member_unsuppress": N_("Allowed mail to a member again"),
    "admin.member_delete_post": N_("Deleted a member"),
    "admin.member_revoke_session": N_("Ended a member's session"),
    "admin.member_repermission": N_("Sent a re-permission mail"),
    "admin.admin_invite": N_("Invited an admin"),
    "admin.admin_demote": N_("Made an admin a member"),
    "admin.invitation_resend": N_("Sent an admin invitation again"),
    "admin.invitation_revoke": N_("Withdrew an admin invitation"),
    "admin.totp_enable": N_("Turned on two-factor login"),
    "admin.totp_disable": N_("Turned off two-factor login"),
    "admin.recovery_codes": N_("Made new recovery codes"),
    # admins
    "admin.setup": N_("Created the first admin"),
    "admin.invite": N_("Invited an admin"),
    "admin.invite.accept": N_("Accepted an admin invitation"),
    "admin.invite.resend": N_("Sent an admin invitation again"),
    "admin.invite.revoke": N_("Withdrew an admin invitation"),
    "admin.promote": N_("Invited a member to become admin"),
    "admin.demote": N_("Made an admin a member"),
    "admin.login": N_("Logged in"),
    "admin.login.failed": N_("Failed login"),
    "admin.login.locked": N_("Login refused: too many attempts"),
    "admin.login.code_failed": N_("Wrong two-factor code"),
    "admin.logout": N_("Logged out"),
    "admin.password.reset_request": N_("Asked for a password reset link"),
    "admin.password.reset": N_("Reset their password"),
    "admin.totp.enable": N_("Turned on two-factor login"),
    "admin.totp.disable": N_("Turned off two-factor login"),
    "admin.totp_start": N_("Started setting up two-factor login"),
    "admin.recovery_codes.renew": N_("Made new recovery codes"),
    "admin.account_settings": N_("Changed the console settings"),
    "admin.password_change": N_("Changed their password"),
    "admin.require_totp": N_("Changed whether admins need two-factor login"),
    # interests and the welcome mail
    "members.admin_add_interest": N_("Added an interest"),
    "members.admin_update_interest": N_("Changed an interest"),
    "members.admin_delete_interest": N_("Deleted an interest"),
    "members.admin_save_welcome": N_("Changed the welcome mail"),
    # ambassadors
    "ambassadors.appoint": N_("Appointed an ambassador"),
    "ambassadors.end_term": N_("Ended an ambassador's term"),
    "ambassadors.review": N_("Reviewed an activity"),
    "ambassadors.approve_selected": N_("Approved several activities"),
    # newsletters
    "newsletters.create_newsletter": N_("Created a newsletter"),
    "newsletters.update_newsletter": N_("Edited a newsletter"),
    "newsletters.upload_images": N_("Added images to a newsletter"),
    "newsletters.test_send": N_("Sent a test newsletter"),
    "newsletters.schedule": N_("Scheduled a newsletter"),
    "newsletters.unschedule": N_("Took a newsletter off the schedule"),
    "newsletters.send": N_("Sent a newsletter"),
    "newsletters.pause": N_("Paused a newsletter"),
    "newsletters.resume": N_("Resumed a newsletter"),
    "newsletters.cancel": N_("Cancelled a newsletter"),
    "newsletters.duplicate": N_("Duplicated a newsletter"),
    "newsletters.delete_newsletter": N_("Deleted a newsletter"),
    "newsletters.retry": N_("Sent a newsletter's failed deliveries again"),
    "mail.lift_hold": N_("Resumed all mail after the relay refused it"),
    # events
    "events.admin_create": N_("Created an event"),
    "events.admin_update": N_("Edited an event"),
    "events.admin_publish": N_("Published an event"),
    "events.admin_cancel": N_("Cancelled an event"),
    "events.admin_event_invite": N_("Sent an event's invitations"),
    "mail.release_suppressed": N_("Released members the relay had refused"),
}

TARGET_LABELS = {
    "person": N_("Member"),
    "members": N_("Members"),
    "newsletter": N_("Newsletter"),
    "appointment": N_("Appointment"),
    "activity": N_("Activity"),
    "interest": N_("Interest"),
    "import": N_("Import"),
    "language": N_("Language"),
    "email": N_("Email address"),
    "event": N_("Event"),
}

DETAIL_LABELS = {
    "told": N_("Told by mail"),
    "changes": N_("Changed"),
    "reason": N_("Reason"),
    "email": N_("Email address"),
    "file": N_("File"),
    "rows": N_("Rows"),
    "problems": N_("Problems"),
    "resume_from": N_("Resumed from row"),
    "imported": N_("Imported"),
    "session": N_("Session"),
    "recipients": N_("Recipients"),
    "action": N_("Decision"),
    "send_at": N_("Send at"),
    "zone": N_("Time zone"),
    "timezone": N_("Time zone"),
    "language": N_("Language"),
    "required": N_("Required"),
    "method": N_("Method"),
    "q": N_("Search"),
    "status": N_("Status"),
    "city": N_("City"),
    "role": N_("Role"),
    "interest": N_("Interest"),
    "sort": N_("Sort by"),
    "name": N_("Name"),
    "newsletter_language": N_("Newsletter language"),
    "from": N_("Copied from"),
    "subject": N_("Subject"),
    "approved": N_("Approved"),
    "code": N_("Reply code"),
    "reply": N_("Reply of the mail server"),
    "count": N_("Number"),
    "people": N_("Members"),
    "deliveries": N_("Deliveries"),
}

FIELD_LABELS = {
    "name": N_("Name"),
    "email": N_("Email address"),
    "city": N_("City"),
    "language": N_("Language"),
    "role": N_("Role"),
    "interests": N_("Interests"),
    "newsletter": N_("Newsletter"),
    "console_language": N_("Language of the console"),
    "newsletter_language": N_("Newsletter language"),
    "time_zone": N_("Time zone"),
}


def action_label(action: str) -> str:
    """The action in the admin's language; an action without words yet shows its code rather than nothing."""
    label = ACTION_LABELS.get(action)
    return _(label) if label else action


def target_label(target_type: str) -> str:
    label = TARGET_LABELS.get(target_type)
    return _(label) if label else target_type


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, dict):  # {"field": [old, new]} or {"field": ...}: the fields, not their values
        value = list(value)
    if isinstance(value, list | tuple):
        return _(", ").join(
            _(FIELD_LABELS[item]) if isinstance(item, str) and item in FIELD_LABELS else _value_text(item)
            for item in value
        )
    return str(value)


def readable_details(entry: AuditEntry) -> list[tuple[str, str]]:
    """The details as (label, value) pairs in the admin's language, in a stable order."""
    pairs = []
    for key, value in details_of(entry).items():
        if value in (None, "", [], {}):
            continue
        label = DETAIL_LABELS.get(key)
        pairs.append((_(label) if label else key, _value_text(value)))
    return pairs


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
