"""newsletters: the time zone a newsletter was scheduled in, so the schedule form shows it again

Revision ID: 0008_newsletters
Revises: 0007_privacy
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_newsletters"
down_revision: str | None = "0007_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("newsletters", sa.Column("schedule_zone", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("newsletters") as batch:
        batch.drop_column("schedule_zone")
