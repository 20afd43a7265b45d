"""events: events with texts per language, answers (RSVPs) with tickets and check-in; mail attachments

Revision ID: 0014_events
Revises: 0013_outbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import club.db

revision: str = "0014_events"
down_revision: str | None = "0013_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, club.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "mail_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["mail_id"], ["mails.id"], name=op.f("fk_mail_attachments_mail_id_mails"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_attachments")),
    )
    op.create_index(op.f("ix_mail_attachments_mail_id"), "mail_attachments", ["mail_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("uid", sa.String(length=80), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("title_nl", sa.String(length=200), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=False),
        sa.Column("title_ja", sa.String(length=200), nullable=False),
        sa.Column("description_nl", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("description_ja", sa.Text(), nullable=False),
        sa.Column("fallback", sa.String(length=2), nullable=False),
        sa.Column("zone", sa.String(length=40), nullable=False),
        _when("starts_at"),
        _when("ends_at"),
        _when("rsvp_deadline", True),
        sa.Column("venue", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("max_guests", sa.SmallInteger(), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("reminder_days", sa.SmallInteger(), nullable=False),
        _when("reminded_at", True),
        _when("invited_at", True),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("answers_version", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("uid", name=op.f("uq_events_uid")),
    )
    op.create_index(op.f("ix_events_starts_at"), "events", ["starts_at"])
    op.create_table(
        "event_rsvps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("guests", sa.SmallInteger(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("ticket", sa.String(length=40), nullable=False),
        _when("waitlisted_at", True),
        sa.Column("walk_in", sa.Boolean(), nullable=False),
        _when("checked_in_at", True),
        sa.Column("checked_in_by_id", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_event_rsvps_event_id_events"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_event_rsvps_person_id_people"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["checked_in_by_id"], ["people.id"],
                                name=op.f("fk_event_rsvps_checked_in_by_id_people"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_rsvps")),
        sa.UniqueConstraint("event_id", "person_id", name=op.f("uq_event_rsvps_event_id_person_id")),
        sa.UniqueConstraint("ticket", name=op.f("uq_event_rsvps_ticket")),
    )
    op.create_index(op.f("ix_event_rsvps_person_id"), "event_rsvps", ["person_id"])
    op.create_index("ix_event_rsvps_event_status", "event_rsvps", ["event_id", "status"])
    with op.batch_alter_table("activities") as batch:
        batch.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_activities_event_id_events"), "events", ["event_id"], ["id"],
                                 ondelete="SET NULL")
    _activity_status_triggers()


# The states of 0013_outbox, frozen here as there.
ACTIVITY_STATUSES = ("draft", "submitted", "returned", "approved")


def _activity_status_triggers() -> None:
    """On SQLite, batch_alter_table rebuilds `activities`, and dropping the old table drops the triggers with which
    0013_outbox closed its status: put them back. (PostgreSQL alters the table in place and keeps its CHECK.)"""
    if op.get_bind().dialect.name != "sqlite":
        return
    allowed = f"status IN ({', '.join(repr(value) for value in ACTIVITY_STATUSES)})"
    for action in ("insert", "update"):
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS ck_activities_status_{action} BEFORE {action.upper()} "
            f"{'OF status ' if action == 'update' else ''}ON activities WHEN NOT (NEW.{allowed}) "
            "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: ck_activities_status'); END"
        )


def downgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.drop_constraint(op.f("fk_activities_event_id_events"), type_="foreignkey")
        batch.drop_column("event_id")
    _activity_status_triggers()
    op.drop_table("event_rsvps")
    op.drop_table("events")
    op.drop_table("mail_attachments")
