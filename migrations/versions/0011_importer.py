"""importer: a member import's check runs in the background with its progress, lists opt-out conflicts, can be
refused, and sends the re-permission mail to rows without a consent date with its progress

Revision ID: 0011_importer
Revises: 0010_admin
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_importer"
down_revision: str | None = "0010_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("checked_rows", sa.Integer(), "0"),
    ("conflict_rows", sa.Integer(), "0"),
    ("conflicts", sa.Text(), "[]"),
    ("refusal", sa.Text(), ""),
    ("repermission_status", sa.String(length=20), ""),
    ("repermission_total", sa.Integer(), "0"),
    ("repermission_done", sa.Integer(), "0"),
    ("repermission_sent", sa.Integer(), "0"),
)


def upgrade() -> None:
    with op.batch_alter_table("member_imports", schema=None) as batch_op:
        for name, type_, default in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=False, server_default=default))


def downgrade() -> None:
    with op.batch_alter_table("member_imports", schema=None) as batch_op:
        for name, _type, _default in reversed(COLUMNS):
            batch_op.drop_column(name)
