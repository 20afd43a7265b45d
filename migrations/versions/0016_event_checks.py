"""event checks: event, answer and zone values closed like the outbox's (0013_outbox); each delivery's own link

Revision ID: 0016_event_checks
Revises: 0014_events

`mail_deliveries.link` fills %%link%% per recipient, so an event's invitations are one mail per language (like a
newsletter) instead of one mail per member.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from club.db import add_checks, drop_checks

revision: str = "0016_event_checks"
down_revision: str | None = "0015_member_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration states the schema of its day, not whatever the enums say later.
ALLOWED = {
    ("events", "status"): ("draft", "published", "cancelled"),
    ("events", "zone"): ("Europe/Brussels", "Asia/Tokyo"),
    ("event_rsvps", "status"): ("yes", "waiting", "no", "pending"),
}


def upgrade() -> None:
    op.add_column("mail_deliveries", sa.Column("link", sa.Text(), nullable=True))
    add_checks(op, ALLOWED)


def downgrade() -> None:
    drop_checks(op, ALLOWED)
    op.drop_column("mail_deliveries", "link")
