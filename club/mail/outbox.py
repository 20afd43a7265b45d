"""Queuing mail: what other features call, inside their own transaction (the request's), never committing.

A signup and its confirmation mail commit together or not at all; the sender picks the mail up after the commit.
Bodies may use the placeholders %%name%%, %%email%% and %%unsubscribe_url%%, filled per recipient.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from club import email_address
from club.db import utcnow
from club.mail.message import Address, check_header_value
from club.mail.models import PRIORITY_BULK, PRIORITY_TRANSACTIONAL, Attachment, Delivery, Mail

# Rows per INSERT statement when queuing a newsletter: large enough to be fast, small enough for any driver.
INSERT_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    name: str = ""
    person_id: int | None = None
    unsubscribe_url: str | None = None


def _check(subject: str, language: str) -> None:
    check_header_value(subject, "subject")
    if not (0 < len(language) <= 2):
        raise ValueError(f"language must be a two-letter code, not {language!r}")


async def _store_mail(
    db: AsyncSession, *, kind: str, bulk: bool, subject: str, text: str, html: str, language: str,
    reference: str | None = None,
) -> Mail:
    """The content of a mail, stored once for all its deliveries; bulk mail waits behind transactional mail."""
    _check(subject, language)
    mail = Mail(
        kind=kind,
        priority=PRIORITY_BULK if bulk else PRIORITY_TRANSACTIONAL,
        language=language,
        subject=subject,
        text=text,
        html=html,
        bulk=bulk,
        reference=reference,
        token=secrets.token_hex(8),
    )
    db.add(mail)
    await db.flush()
    return mail


async def queue_mail(
    db: AsyncSession,
    *,
    to_email: str,
    to_name: str,
    subject: str,
    text: str,
    html: str,
    language: str,
    kind: str = "transactional",
    person_id: int | None = None,
) -> Delivery:
    """Queue one transactional mail; it goes ahead of newsletters and leaves within a second of the commit.

    Raises ValueError for an address or subject that cannot be sent (CR/LF, not an address): the forms check
    addresses by the same rule (club/email_address.py), so what they accept is never refused here."""
    to_email = email_address.for_sending(to_email)
    Address(to_email, to_name)
    mail = await _store_mail(db, kind=kind, bulk=False, subject=subject, text=text, html=html, language=language)
    delivery = Delivery(
        mail_id=mail.id,
        to_email=to_email,
        to_name=" ".join(to_name.split()),
        person_id=person_id,
        priority=PRIORITY_TRANSACTIONAL,
        status="queued",
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.add(delivery)
    await db.flush()
    return delivery


async def queue_newsletter(
    db: AsyncSession,
    *,
    subject: str,
    text: str,
    html: str,
    language: str,
    recipients: Iterable[Recipient],
    reference: str | None = None,
    kind: str = "newsletter",
) -> tuple[Mail, int]:
    """Store a newsletter's content once and one delivery per recipient (each needs an https unsubscribe_url).

    Call it once per language. Recipients with an address we cannot send to are skipped; the number queued is
    returned with the mail. Leaving out suppressed people (`people.suppressed_at`) is the caller's job."""
    mail = await _store_mail(db, kind=kind, bulk=True, subject=subject, text=text, html=html, language=language,
                             reference=reference)
    now = utcnow()
    table = cast(Table, Delivery.__table__)
    rows: list[dict[str, object]] = []
    queued = 0
    for recipient in recipients:
        try:
            # Stored addresses passed the rule when typed; only an international domain needs its wire form.
            wire = recipient.email if recipient.email.isascii() else email_address.for_sending(recipient.email)
            address = Address(wire, recipient.name)
        except ValueError:
            continue
        if not recipient.unsubscribe_url or not recipient.unsubscribe_url.startswith(("https://", "http://")):
            raise ValueError(f"every newsletter delivery needs an unsubscribe link ({recipient.email})")
        rows.append(
            {
                "mail_id": mail.id,
                "person_id": recipient.person_id,
                "to_email": address.email,
                "to_name": address.name,
                "unsubscribe_url": recipient.unsubscribe_url,
                "priority": PRIORITY_BULK,
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
        if len(rows) >= INSERT_CHUNK:
            await db.execute(insert(table), rows)
            queued += len(rows)
            rows = []
    if rows:
        await db.execute(insert(table), rows)
        queued += len(rows)
    return mail, queued


async def attach(db: AsyncSession, mail_id: int, *, filename: str, content_type: str, content: str) -> None:
    """Add a text file (an .ics) to a queued mail: every delivery of the mail carries it."""
    check_header_value(filename, "filename")
    db.add(Attachment(mail_id=mail_id, filename=filename, content_type=content_type, content=content))
    await db.flush()
