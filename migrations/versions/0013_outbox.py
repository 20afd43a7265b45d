"""outbox: closed states; statuses and roles can only hold the values of their StrEnums

Revision ID: 0013_outbox
Revises: 0012_sender

PostgreSQL gets CHECK constraints. On SQLite a CHECK can only be added by rebuilding the table, and rebuilding
`people` (referenced by a dozen tables with ON DELETE CASCADE, AUTOINCREMENT, the search triggers of 0005) with
foreign keys on would cascade its drop; triggers that abort the same INSERTs and UPDATEs do the same job there.
(A database made from the models, in tests of the models, gets the CHECK constraints themselves.)
"""

from collections.abc import Sequence

from alembic import op

from club.db import add_checks, drop_checks

revision: str = "0013_outbox"
down_revision: str | None = "0012_sender"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration states the schema of its day, not whatever the enums say later.
ALLOWED = {
    ("mail_deliveries", "status"): ("queued", "sending", "sent", "failed", "paused", "cancelled"),
    ("people", "role"): ("member", "ambassador", "admin"),
    ("activities", "status"): ("draft", "submitted", "returned", "approved"),
    ("newsletters", "status"): ("draft", "scheduled", "sending", "paused", "sent", "cancelled"),
}


def upgrade() -> None:
    add_checks(op, ALLOWED)


def downgrade() -> None:
    drop_checks(op, ALLOWED)
