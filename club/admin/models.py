"""The admin console's tables: the audit log, member imports and admin settings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from club.accounts.models import Person
from club.db import Base, utcnow

# Substring search over names and addresses. On PostgreSQL a trigram GIN index (pg_trgm); on SQLite the same
# declaration is a plain index, and the search goes through the FTS5 trigram table below, made by the migration.
Index(
    "ix_people_search",
    Person.__table__.c.name,
    Person.__table__.c.email,
    postgresql_using="gin",
    postgresql_ops={"name": "gin_trgm_ops", "email": "gin_trgm_ops"},
)
Index("ix_people_name_id", Person.__table__.c.name, Person.__table__.c.id)

# SQLite only: an external-content FTS5 table with the trigram tokenizer, kept in sync with `people` by triggers
# (see migrations/versions/0005_admin.py). It and its shadow tables are not models, so schema comparison skips them.
SQLITE_SEARCH_TABLE = "people_search"
SQLITE_SEARCH_TABLES = frozenset(
    SQLITE_SEARCH_TABLE + suffix for suffix in ("", "_data", "_idx", "_content", "_docsize", "_config")
)


# Both databases: the number of members, one row kept by triggers (and on PostgreSQL people_count_pending; 0015).
MEMBER_COUNT_TABLE = "people_count"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's include_name hook: leave the tables made by hand for the search and the count out of autogenerate."""
    return not (type_ == "table" and (name in SQLITE_SEARCH_TABLES or str(name).startswith(MEMBER_COUNT_TABLE)))


class AuditEntry(Base):
    """One admin action: who, what, when, on which record, from which address. Rows are only ever added."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    # Kept as text too, so the entry still says who acted after that admin's account is gone.
    actor_email: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(60), index=True)
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    ip: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)


class MemberImport(Base):
    """An uploaded member list: checked first (the preview), then imported in batches that each commit with
    the position reached, so an interrupted import resumes where it stopped."""

    __tablename__ = "member_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(200))
    encoding: Mapped[str] = mapped_column(String(20))
    # checking -> previewed -> running -> done; or refused (by the check), or cancelled
    status: Mapped[str] = mapped_column(String(20), default="previewed")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    valid_rows: Mapped[int] = mapped_column(Integer, default=0)
    new_rows: Mapped[int] = mapped_column(Integer, default=0)
    problem_rows: Mapped[int] = mapped_column(Integer, default=0)
    without_consent: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[str] = mapped_column(Text, default="[]")  # JSON: the first problems, for the preview
    checked_rows: Mapped[int] = mapped_column(Integer, default=0)  # the check's progress
    # Rows whose member unsubscribed after the row's consent date: they stay unsubscribed. JSON, the first ones.
    conflict_rows: Mapped[int] = mapped_column(Integer, default=0)
    conflicts: Mapped[str] = mapped_column(Text, default="[]")
    refusal: Mapped[str] = mapped_column(Text, default="")  # JSON [message id, variables] when the check refused
    # The re-permission mail to the rows that want the newsletter without a consent date: "" -> running -> done
    repermission_status: Mapped[str] = mapped_column(String(20), default="")
    repermission_total: Mapped[int] = mapped_column(Integer, default=0)
    repermission_done: Mapped[int] = mapped_column(Integer, default=0)
    repermission_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class AdminSetting(Base):
    """A setting of the console that holds for every admin, such as "two-factor login is required"."""

    __tablename__ = "admin_settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
