"""Ambassadors: their ref (recruiting code), their appointments (terms), the activities they log and the photos."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from club.accounts.models import Person
from club.db import Base, check_in, utcnow

# The areas of the twinning (cooperation agreement of 2016, and what the cities share).
CATEGORIES = ("education", "culture", "crafts", "tourism", "sport", "youth", "food", "sustainability")
ACTIVITY_CITIES = ("ghent", "kanazawa", "elsewhere", "online")
STATIONS = ("ghent", "kanazawa")
# The six partner institutions; any other is stored by its name.
INSTITUTIONS = ("ugent", "kanazawa-university", "kask", "kanazawa-college-of-art", "hogent", "kinjo")
# draft: saved, not sent; submitted: waiting for review; returned: sent back with a comment; approved: final.


class ActivityStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    APPROVED = "approved"


STATUSES = tuple(ActivityStatus)
EDITABLE_STATUSES = ("draft", "submitted", "returned")


class Ambassador(Base):
    """A person who is or was an ambassador: their ref (the code in their join link, /join?ref=...) stays the
    same across their terms."""

    __tablename__ = "ambassadors"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(lazy="raise")


class Appointment(Base):
    """One term as ambassador. A term is current from starts_on to ends_on, unless it was ended early."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Empty once the ambassador is erased: a term with approved activities stays, credited to a former ambassador.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("ambassadors.person_id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    # Set when the term is over: the planned end, or the day an admin ended it.
    ended_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    home_institution: Mapped[str] = mapped_column(String(120))
    host_institution: Mapped[str] = mapped_column(String(120))
    stationed_in: Mapped[str] = mapped_column(String(20))
    appointed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # The last reminder mail: one per quiet stretch, not one a day.
    reminded_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    ambassador: Mapped[Ambassador] = relationship(lazy="raise")

    @property
    def last_day(self) -> dt.date:
        return self.ended_on or self.ends_on


class Activity(Base):
    """What an ambassador did, logged by them and approved by an admin."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Empty once the ambassador is erased; former_ambassador_key then tells one erased author from another.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    former_ambassador_key: Mapped[int | None]
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    happened_on: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(30))
    city: Mapped[str] = mapped_column(String(20))
    venue: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # Rendered from the Markdown and sanitized once, when saved.
    description_html: Mapped[str] = mapped_column(Text, default="")
    people_reached: Mapped[int] = mapped_column(Integer, default=0)
    # Hours in quarters (1.75 h is 7): exact sums without floating point.
    quarter_hours: Mapped[int] = mapped_column(Integer, default=0)
    link: Mapped[str | None] = mapped_column(String(500))
    # The event the ambassador helped at, if any.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    status: Mapped[str] = mapped_column(String(12), default=ActivityStatus.DRAFT)
    review_comment: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    reviewed_at: Mapped[dt.datetime | None]
    submitted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    author: Mapped[Person | None] = relationship(foreign_keys=[person_id], lazy="raise")
    appointment: Mapped[Appointment] = relationship(lazy="raise")
    photos: Mapped[list[ActivityPhoto]] = relationship(
        back_populates="activity", lazy="raise", order_by="ActivityPhoto.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        # The wall and the feed: approved public activities, newest first, optionally one category or city.
        Index("ix_activities_wall", "status", "public", "happened_on", "id"),
        Index("ix_activities_wall_category", "status", "public", "category", "happened_on", "id"),
        Index("ix_activities_wall_city", "status", "public", "city", "happened_on", "id"),
        # The numbers: approved activities of a year, with what the sums need, read from the index alone.
        Index(
            "ix_activities_numbers",
            "status",
            "happened_on",
            "category",
            "city",
            "quarter_hours",
            "people_reached",
            "person_id",
            "appointment_id",
            "former_ambassador_key",
        ),
        # An ambassador's own list and the reminder's "last logged".
        Index("ix_activities_person", "person_id", "created_at"),
        # The review queue, oldest first.
        Index("ix_activities_queue", "status", "submitted_at", "id"),
        check_in("status", ActivityStatus),
    )

    @property
    def hours(self) -> float:
        return self.quarter_hours / 4

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE_STATUSES


class ActivityPhoto(Base):
    """A photo of an activity: resized copies on disk under var/uploads, named by a random key."""

    __tablename__ = "activity_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    activity: Mapped[Activity] = relationship(back_populates="photos", lazy="raise")
