"""mail: the outbox (mails, deliveries) and the running senders

Revision ID: 0002_mail
Revises: 0001_foundation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import club.db

revision: str = "0002_mail"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("bulk", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=True),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mails")),
    )
    op.create_index(op.f("ix_mails_reference"), "mails", ["reference"], unique=False)
    op.create_table(
        "mail_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=False),
        sa.Column("unsubscribe_url", sa.Text(), nullable=True),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column("smtp_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mail_id"], ["mails.id"], name=op.f("fk_mail_deliveries_mail_id_mails"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_mail_deliveries_person_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_deliveries")),
    )
    op.create_index(
        "ix_mail_deliveries_claim", "mail_deliveries", ["status", "priority", "next_attempt_at", "id"], unique=False
    )
    op.create_index(op.f("ix_mail_deliveries_mail_id"), "mail_deliveries", ["mail_id"], unique=False)
    op.create_index(op.f("ix_mail_deliveries_person_id"), "mail_deliveries", ["person_id"], unique=False)
    op.create_table(
        "mail_senders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_senders")),
    )


def downgrade() -> None:
    op.drop_table("mail_senders")
    op.drop_index(op.f("ix_mail_deliveries_person_id"), table_name="mail_deliveries")
    op.drop_index(op.f("ix_mail_deliveries_mail_id"), table_name="mail_deliveries")
    op.drop_index("ix_mail_deliveries_claim", table_name="mail_deliveries")
    op.drop_table("mail_deliveries")
    op.drop_index(op.f("ix_mails_reference"), table_name="mails")
    op.drop_table("mails")
