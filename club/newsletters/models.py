"""A newsletter, its variants per language, and the images uploaded into it.

Who receives which copy lives in the outbox (`mails`, `mail_deliveries`): one Mail per language with reference
"newsletter:<id>", one delivery per recipient.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from club.db import Base, check_in, utcnow

# draft -> scheduled -> sending <-> paused -> sent; draft, scheduled, sending and paused can become cancelled.


class NewsletterStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


STATUSES = tuple(NewsletterStatus)
EDITABLE = ("draft", "scheduled")
STARTABLE = ("draft", "scheduled")


class Newsletter(Base):
    __tablename__ = "newsletters"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default=NewsletterStatus.DRAFT)
    fallback_language: Mapped[str] = mapped_column(String(2), default="en")
    # Kept out of the public archive and its feed.
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    # The audience's filters as JSON (see audience.Audience); the recipients themselves are chosen at sending.
    audience: Mapped[str] = mapped_column(Text, default="{}")
    scheduled_at: Mapped[dt.datetime | None]
    # The zone the admin scheduled in (Europe/Brussels or Asia/Tokyo): the schedule form shows the time in it.
    schedule_zone: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    variants: Mapped[list[NewsletterVariant]] = relationship(
        back_populates="newsletter", lazy="raise", cascade="all, delete-orphan", order_by="NewsletterVariant.language"
    )

    __table_args__ = (
        Index("ix_newsletters_status_scheduled_at", "status", "scheduled_at"),
        check_in("status", NewsletterStatus),
    )

    @property
    def reference(self) -> str:
        return f"newsletter:{self.id}"

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE


class NewsletterVariant(Base):
    """The newsletter in one language: subject, preheader and Markdown body."""

    __tablename__ = "newsletter_variants"

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletters.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(String(200))
    preheader: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)

    newsletter: Mapped[Newsletter] = relationship(back_populates="variants", lazy="raise")

    __table_args__ = (UniqueConstraint("newsletter_id", "language"),)


class NewsletterImage(Base):
    """An image uploaded into a newsletter, served from the app at /newsletters/images/<token>.<ext>.

    The random token keeps drafts' images unguessable; mail clients fetch them without logging in."""

    __tablename__ = "newsletter_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletters.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
