"""sender: deliveries that left after Pause or Cancel, and holds put on all mail when a relay refuses everyone

Revision ID: 0012_sender
Revises: 0011_importer
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import club.db

revision: str = "0012_sender"
down_revision: str | None = "0011_importer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail_deliveries") as batch:
        batch.add_column(sa.Column("after_stop", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "mail_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.SmallInteger(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_holds")),
    )


def downgrade() -> None:
    op.drop_table("mail_holds")
    with op.batch_alter_table("mail_deliveries") as batch:
        batch.drop_column("after_stop")
