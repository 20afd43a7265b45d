"""The outbox: a mail's content stored once, one small delivery row per recipient, and the running senders."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from club.db import Base, check_in, utcnow

PRIORITY_TRANSACTIONAL = 0
PRIORITY_BULK = 10


class DeliveryStatus(StrEnum):
    """Every state a delivery can be in; a CHECK constraint (migration 0013_outbox) refuses any other."""

    QUEUED = "queued"  # waiting for its first attempt or its next retry
    SENDING = "sending"  # claimed by a sender under a lease
    SENT = "sent"
    FAILED = "failed"
    PAUSED = "paused"  # held by its feature (a paused newsletter): no sender claims it until it is released
    CANCELLED = "cancelled"  # will never go


# Not left yet, and may still leave.
WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.PAUSED)


class Mail(Base):
    """What is sent: subject and bodies with %%name%%-style placeholders, once for all its recipients."""

    __tablename__ = "mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    priority: Mapped[int] = mapped_column(SmallInteger, default=PRIORITY_TRANSACTIONAL)
    language: Mapped[str] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    # Newsletters carry List-Unsubscribe headers; transactional mail does not.
    bulk: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who queued it, e.g. "newsletter:12", so a feature can find and count its own deliveries.
    reference: Mapped[str | None] = mapped_column(String(60), index=True)
    # Random part of every Message-ID of this mail: a resent delivery keeps its Message-ID.
    token: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One mail to one recipient."""

    __tablename__ = "mail_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_id: Mapped[int] = mapped_column(ForeignKey("mails.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    to_email: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    unsubscribe_url: Mapped[str | None] = mapped_column(Text)
    # The recipient's own link (%%link%%) in a mail to many that is not a newsletter: an invitation's answer page.
    link: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(SmallInteger, default=PRIORITY_TRANSACTIONAL)
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    smtp_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None]
    # Sent although Pause or Cancel had been pressed: it was already inside an SMTP transaction.
    after_stop: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_mail_deliveries_claim", "status", "priority", "next_attempt_at", "id"),
        check_in("status", DeliveryStatus),
    )

    @property
    def retrying(self) -> bool:
        return self.status == DeliveryStatus.QUEUED and self.attempts > 0


class Sender(Base):
    """A running sender, with a heartbeat: on SQLite at most one may live; on PostgreSQL a dead one's
    claimed deliveries are handed back as soon as it is known dead."""

    __tablename__ = "mail_senders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Hold(Base):
    """All mail waits: the relay refused in a way that says it is the relay (or our settings), not the recipients.

    Written by a sender, lifted by an admin (`resolved_at`); while one is open no sender claims anything."""

    __tablename__ = "mail_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[int | None] = mapped_column(SmallInteger)
    reply: Mapped[str] = mapped_column(Text)
    # How many different recipients got this reply before the hold.
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]


class Attachment(Base):
    """A file sent with a mail (an event's .ics): stored once per mail, added to every delivery of it."""

    __tablename__ = "mail_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_id: Mapped[int] = mapped_column(ForeignKey("mails.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(100))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
