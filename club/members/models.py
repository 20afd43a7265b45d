"""What the club keeps about members beyond `people`: interests, consent records, welcome texts, erasure counts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from club.db import Base, utcnow


class Interest(Base):
    """One of the twinning's areas a member can follow; admins keep the list and its names in three languages."""

    __tablename__ = "interests"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_nl: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    name_ja: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)

    def name(self, language: str) -> str:
        return {"nl": self.name_nl, "ja": self.name_ja}.get(language) or self.name_en


class MemberInterest(Base):
    __tablename__ = "member_interests"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    interest_id: Mapped[int] = mapped_column(
        ForeignKey("interests.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Consent(Base):
    """One consent given or withdrawn: when, how, and the exact version and language of the text shown.

    Rows are never updated; unsubscribing adds a row, so the evidence of the earlier consent stays."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(30))  # "newsletter"
    given: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(20))  # form, link, one-click, import, admin
    text_version: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WelcomeText(Base):
    """The welcome mail as an admin wrote it, per language; without a row the built-in text is sent."""

    __tablename__ = "welcome_texts"

    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ErasureCount(Base):
    """How many members erased their account, per month: all the club keeps of them."""

    __tablename__ = "erasure_counts"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # 2026-11
    count: Mapped[int] = mapped_column(Integer, default=0)
