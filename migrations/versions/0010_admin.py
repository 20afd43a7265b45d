"""admin: an admin's console language and time zone apart from their newsletter language; console settings

Revision ID: 0010_admin
Revises: 0009_ambassadors
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import club.db

revision: str = "0010_admin"
down_revision: str | None = "0009_ambassadors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): SQLite does not rebuild `people`, so AUTOINCREMENT and the search
    # triggers of 0005 stay as they are.
    op.add_column("people", sa.Column("console_language", sa.String(length=2), nullable=True))
    op.add_column("people", sa.Column("time_zone", sa.String(length=40), nullable=True))
    op.create_table(
        "admin_settings",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_admin_settings")),
    )


def downgrade() -> None:
    op.drop_table("admin_settings")
    # DROP COLUMN in place (SQLite 3.35+) rather than a batch rebuild, which would drop the search triggers.
    op.execute("ALTER TABLE people DROP COLUMN time_zone")
    op.execute("ALTER TABLE people DROP COLUMN console_language")
