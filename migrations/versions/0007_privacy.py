"""privacy: an erased ambassador's approved activities stay, credited to a former ambassador

activities.person_id and appointments.person_id may be empty (the person is erased; the approved activities and
the terms they belong to stay, so the year's numbers do not change), and activities.former_ambassador_key keeps
the activities of one erased person together, so "active ambassadors" still counts them once.

Revision ID: 0007_privacy
Revises: 0006_newsletters
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_privacy"
down_revision: str | None = "0006_newsletters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBERS_COLUMNS = ["status", "happened_on", "category", "city", "quarter_hours", "people_reached", "person_id",
                   "appointment_id"]


def upgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.alter_column("person_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("former_ambassador_key", sa.Integer(), nullable=True))
        batch_op.alter_column("person_id", existing_type=sa.Integer(), nullable=True)
        batch_op.drop_index("ix_activities_numbers")
        batch_op.create_index("ix_activities_numbers", [*NUMBERS_COLUMNS, "former_ambassador_key"], unique=False)


def downgrade() -> None:
    # Activities of erased ambassadors have no author any more: they cannot go back to a table that needs one.
    op.execute("DELETE FROM activities WHERE person_id IS NULL")
    op.execute("DELETE FROM appointments WHERE person_id IS NULL")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_numbers")
        batch_op.create_index("ix_activities_numbers", NUMBERS_COLUMNS, unique=False)
        batch_op.alter_column("person_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("former_ambassador_key")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.alter_column("person_id", existing_type=sa.Integer(), nullable=False)
