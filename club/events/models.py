"""Events: what admins organise (texts per language, times in the venue's zone), and each person's answer (RSVP)
with its ticket and check-in."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from club.db import Base, check_in, utcnow


class EventStatus(StrEnum):
    """A CHECK constraint (migration 0016_event_checks) refuses any other value; so for the others below."""

    DRAFT = "draft"  # only admins see it
    PUBLISHED = "published"  # open for answers
    CANCELLED = "cancelled"  # those who said yes were told


class Zone(StrEnum):
    GHENT = "Europe/Brussels"
    KANAZAWA = "Asia/Tokyo"


class Answer(StrEnum):
    YES = "yes"  # has a seat
    WAITING = "waiting"  # on the waiting list, in order of waitlisted_at
    NO = "no"  # declined or cancelled
    PENDING = "pending"  # a visitor who joined at the same time, waiting for their double opt-in confirmation


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default=EventStatus.DRAFT)
    # Stable across updates: calendars recognise the same event by it; SEQUENCE says which version is newer.
    uid: Mapped[str] = mapped_column(String(80), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    title_nl: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    title_ja: Mapped[str] = mapped_column(String(200), default="")
    description_nl: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    description_ja: Mapped[str] = mapped_column(Text, default="")
    # The language shown to someone whose own language has no text.
    fallback: Mapped[str] = mapped_column(String(2), default="en")
    zone: Mapped[str] = mapped_column(String(40), default=Zone.GHENT)
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    ends_at: Mapped[dt.datetime]
    rsvp_deadline: Mapped[dt.datetime | None]
    venue: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    # None: no limit.
    capacity: Mapped[int | None] = mapped_column(Integer)
    max_guests: Mapped[int] = mapped_column(SmallInteger, default=0)
    question: Mapped[str] = mapped_column(String(300), default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    audience: Mapped[str] = mapped_column(Text, default="{}")
    reminder_days: Mapped[int] = mapped_column(SmallInteger, default=2)
    reminded_at: Mapped[dt.datetime | None]
    invited_at: Mapped[dt.datetime | None]
    invited: Mapped[int] = mapped_column(Integer, default=0)
    # Raised by every answer before seats are counted: the row lock that makes two answers for the last seat
    # take turns (PostgreSQL row lock; SQLite's write lock).
    answers_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (check_in("status", EventStatus), check_in("zone", Zone))

    def title(self, language: str) -> str:
        return str(
            getattr(self, f"title_{language}", "")
            or getattr(self, f"title_{self.fallback}", "")
            or self.title_en
            or self.title_nl
            or self.title_ja
        )

    def description(self, language: str) -> str:
        if getattr(self, f"title_{language}", ""):
            return str(getattr(self, f"description_{language}", ""))
        return str(getattr(self, f"description_{self.fallback}", ""))

    def text_language(self, language: str) -> str:
        return language if getattr(self, f"title_{language}", "") else self.fallback


class Rsvp(Base):
    """One person's answer to one event; with status yes it is also their ticket."""

    __tablename__ = "event_rsvps"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # Empty for a walk-in without an account, and once the person is erased (the count stays, anonymous).
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10))
    guests: Mapped[int] = mapped_column(SmallInteger, default=0)
    answer: Mapped[str] = mapped_column(Text, default="")
    ticket: Mapped[str] = mapped_column(String(40), unique=True)
    waitlisted_at: Mapped[dt.datetime | None]
    walk_in: Mapped[bool] = mapped_column(Boolean, default=False)
    checked_in_at: Mapped[dt.datetime | None]
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("event_id", "person_id"),
        Index("ix_event_rsvps_event_status", "event_id", "status"),
        check_in("status", Answer),
    )
