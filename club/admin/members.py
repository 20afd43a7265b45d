"""What admins do to one member: look, edit, suppress, delete, revoke sessions, change roles, ask for consent."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts import sessions, tokens
from club.accounts.models import AuthSession, OneTimeToken, Person
from club.ambassadors import service as ambassadors
from club.config import Settings
from club.db import is_postgres, utcnow
from club.i18n import _, use_language
from club.mail import outbox
from club.mail.models import Delivery, Mail
from club.mail.outbox import queue_mail
from club.mail.render import queue_rendered, render_mail
from club.members import service as members
from club.members.models import Consent, Interest

REPERMISSION_PURPOSE = "newsletter-repermission"
REPERMISSION_LIFETIME = dt.timedelta(days=30)
INVITE_PURPOSE = "admin-invite"
INVITE_LIFETIME = dt.timedelta(days=3)


class LastAdmin(Exception):
    """The club would be left without an admin."""


@dataclass
class MemberDetails:
    person: Person
    interests: list[Interest]
    consents: list[Consent]
    mails: list[tuple[Delivery, Mail]]
    sessions: list[AuthSession]
    extra: dict[str, Any] = field(default_factory=dict)  # the ambassadors' part of the export: activities, ...


async def details(db: AsyncSession, settings: Settings, person: Person) -> MemberDetails:
    mails = await outbox.deliveries_to(db, person.id, newest_first=True, limit=50)
    open_sessions = (
        await db.execute(
            select(AuthSession)
            .where(AuthSession.person_id == person.id, AuthSession.expires_at > utcnow())
            .order_by(AuthSession.last_seen_at.desc())
        )
    ).scalars()
    return MemberDetails(
        person=person,
        interests=await members.interests_of(db, person.id),
        consents=await members.consent_history(db, person.id),
        mails=mails,
        sessions=list(open_sessions),
        extra=await ambassadors.export_ambassador(db, settings, person),
    )


async def other_admins(db: AsyncSession, person: Person) -> int:
    """How many admins there are besides person; on PostgreSQL the admins' rows stay locked until commit, so two
    admins demoting each other at the same moment cannot both succeed."""
    if is_postgres(db):
        await db.execute(select(Person.id).where(Person.role == "admin").with_for_update())
    statement = select(func.count()).select_from(Person).where(Person.role == "admin", Person.id != person.id)
    return int((await db.execute(statement)).scalar_one())


async def change_role(db: AsyncSession, person: Person, role: str) -> bool:
    """Change a person's role; their sessions end, so the new role applies at once. False when unchanged."""
    if person.role == role:
        return False
    if person.role == "admin" and await other_admins(db, person) == 0:
        raise LastAdmin()
    person.role = role
    await sessions.revoke_all(db, person.id)
    await db.flush()
    return True


async def update_profile(
    db: AsyncSession, person: Person, *, name: str, email: str, city: str, language: str, interests: list[str]
) -> dict[str, list[Any]]:
    """Save an admin's edit; returns what changed as {field: [old, new]} for the audit log."""
    changes: dict[str, list[Any]] = {}
    for attribute, value in (("name", name), ("email", email), ("city", city), ("language", language)):
        if getattr(person, attribute) != value:
            changes[attribute] = [getattr(person, attribute), value]
            setattr(person, attribute, value)
    before = sorted(interest.slug for interest in await members.interests_of(db, person.id))
    if before != sorted(interests):
        changes["interests"] = [before, sorted(interests)]
        await members.set_interests(db, person, interests)
    await db.flush()
    return changes


async def suppress(db: AsyncSession, person: Person, reason: str) -> None:
    """No more mail to this address (it bounces, or the person asked by phone); undone by unsuppress."""
    person.suppressed_at = utcnow()
    person.suppressed_reason = reason or None
    await members.cancel_queued_newsletters(db, person.id)
    await db.flush()


async def unsuppress(db: AsyncSession, person: Person) -> None:
    person.suppressed_at = None
    person.suppressed_reason = None
    await db.flush()


async def delete_member(db: AsyncSession, settings: Settings, person: Person) -> None:
    """Erase the member as their own erasure would: an ambassador's approved activities stay, credited to a
    former ambassador, so the year's numbers do not change; otherwise only anonymous counts remain."""
    if person.role == "admin" and await other_admins(db, person) == 0:
        raise LastAdmin()
    await members.erase(db, settings, person)


async def revoke_session(db: AsyncSession, person: Person, session_id: str) -> bool:
    result = await db.execute(
        delete(AuthSession).where(AuthSession.person_id == person.id, AuthSession.id == session_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def send_repermission(db: AsyncSession, settings: Settings, person: Person) -> bool:
    """Ask a member without recorded consent whether they want the newsletter. False when there is no point:
    already subscribed, suppressed, or not a confirmed member."""
    if person.newsletter or person.suppressed_at is not None or person.confirmed_at is None:
        return False
    await tokens.revoke_all(db, REPERMISSION_PURPOSE, person_id=person.id)
    raw = await tokens.issue(db, REPERMISSION_PURPOSE, REPERMISSION_LIFETIME, person_id=person.id)
    with use_language(person.language):
        subject = _("Would you like to receive the club's newsletter?")
    await queue_rendered(
        db,
        person,
        "admin/mail/repermission",
        person.language,
        kind="admin-repermission",
        subject=subject,
        url=settings.absolute_url(f"/newsletter/opt-in/{raw}"),
    )
    return True


async def accept_repermission(db: AsyncSession, raw: str) -> Person | None:
    token = await tokens.consume(db, REPERMISSION_PURPOSE, raw)
    if token is None or token.person_id is None:
        return None
    person = await db.get(Person, token.person_id)
    if person is None:
        return None
    await members.set_newsletter(db, person, True, method="form", language=person.language)
    return person


async def invite_admin(
    db: AsyncSession, settings: Settings, *, email: str, name: str, language: str, invited_by: Person
) -> None:
    """Mail a single-use link with which the invitee sets a password and becomes an admin."""
    raw = await tokens.issue(db, INVITE_PURPOSE, INVITE_LIFETIME, data=f"{email}\n{name}\n{language}")
    with use_language(language):
        subject = _("You are invited to be an admin of the Ghent–Kanazawa Supporters Club")
    text, html = render_mail(
        "admin/mail/invite",
        language,
        subject=subject,
        inviter=invited_by.name,
        url=settings.absolute_url(f"/admin/invite/{raw}"),
    )
    await queue_mail(
        db, to_email=email, to_name=name, subject=subject, text=text, html=html, language=language, kind="admin-invite"
    )


def invitation_of(data: str | None) -> tuple[str, str]:
    email, _sep, rest = (data or "").partition("\n")
    name, _sep, _language = rest.partition("\n")
    return email, name


def invitation_language(data: str | None) -> str:
    language = (data or "").split("\n")[2:3]
    return language[0] if language else "en"


async def pending_invitations(db: AsyncSession) -> list[OneTimeToken]:
    """Invitations not yet accepted and not expired, newest first."""
    statement = (
        select(OneTimeToken)
        .where(
            OneTimeToken.purpose == INVITE_PURPOSE, OneTimeToken.used_at.is_(None), OneTimeToken.expires_at > utcnow()
        )
        .order_by(OneTimeToken.created_at.desc())
    )
    return list((await db.execute(statement)).scalars())


async def revoke_invitation(db: AsyncSession, token_id: str) -> OneTimeToken | None:
    token = await db.get(OneTimeToken, token_id[:64])
    if token is None or token.purpose != INVITE_PURPOSE or token.used_at is not None:
        return None
    await db.delete(token)
    await db.flush()
    return token
