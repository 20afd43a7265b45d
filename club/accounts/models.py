"""People, their server-side sessions, single-use tokens and admins' second factor."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from club.db import Base, check_in, utcnow


class Role(StrEnum):
    MEMBER = "member"
    AMBASSADOR = "ambassador"
    ADMIN = "admin"


ROLES = tuple(Role)
CITIES = ("ghent", "kanazawa", "elsewhere")


class Person(Base):
    """A person in the club. A member has role 'member'; an ambassador is a member with an appointment."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default=Role.MEMBER, server_default=Role.MEMBER.value)
    # The language of everything the club mails this person (the newsletter too).
    language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    # An admin's console language, when it differs from `language`, and the zone the console shows times in.
    console_language: Mapped[str | None] = mapped_column(String(2))
    time_zone: Mapped[str | None] = mapped_column(String(40))
    city: Mapped[str] = mapped_column(String(20), default="elsewhere", server_default="elsewhere")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[dt.datetime | None]
    newsletter: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    suppressed_at: Mapped[dt.datetime | None]
    suppressed_reason: Mapped[str | None] = mapped_column(Text)
    # The ref of the ambassador whose join link (/join?ref=...) brought this person in, if any.
    ref: Mapped[str | None] = mapped_column(String(40), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # AUTOINCREMENT on SQLite: an erased member's id is never given to someone new (links are signed over ids).
    __table_args__ = (
        Index("ix_people_role", "role"),
        Index("ix_people_created_at", "created_at"),
        check_in("role", Role),
        {"sqlite_autoincrement": True},
    )

    @property
    def page_language(self) -> str:
        """The language of the pages this person sees."""
        return self.console_language or self.language

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class AuthSession(Base):
    """A login. The cookie holds a random token; only its SHA-256 is stored, so a database leak logs nobody in."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class OneTimeToken(Base):
    """A single-use link (first-run setup, confirmation, login): only the hash is stored."""

    __tablename__ = "one_time_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(30))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    data: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[dt.datetime | None]


class SecondFactor(Base):
    """An admin's TOTP secret. `last_step` is the time step of the last code accepted: a code is good once."""

    __tablename__ = "admin_second_factors"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    enabled_at: Mapped[dt.datetime | None]
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """A single-use code for when the phone is lost; only its hash is stored."""

    __tablename__ = "admin_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None]
