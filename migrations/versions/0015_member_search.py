"""member search: the number of members kept by triggers, so the member list and the dashboard count everyone
exactly without counting a million rows at every request

Revision ID: 0015_member_search
Revises: 0014_events

`people_count` holds one row, filled from the members there are when this runs. SQLite adds and subtracts one per
row (it has one writer at a time anyway). PostgreSQL adds up a transaction's changes in a transaction-local setting,
from each statement's transition table, and writes the sum once, at commit, through a deferred trigger on
`people_count_pending`: updating the row at every statement left a new row version each time, and a million
single-row INSERTs in one transaction then took quadratic time. The row is locked only while a transaction commits.
TRUNCATE sets the count to 0. Like the search table of 0005, these tables are no models:
club.admin.models.include_name leaves them out of autogenerate; and like its triggers, a later migration that
rebuilds `people` on SQLite must create the SQLITE triggers below again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_member_search"
down_revision: str | None = "0014_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE = [
    "CREATE TRIGGER people_count_insert AFTER INSERT ON people BEGIN UPDATE people_count SET members = members + 1;"
    " END",
    "CREATE TRIGGER people_count_delete AFTER DELETE ON people BEGIN UPDATE people_count SET members = members - 1;"
    " END",
]
DELTA = "current_setting('club.people_count_delta', true)"
POSTGRES = [
    "CREATE TABLE people_count_pending (pending BOOLEAN NOT NULL)",
    f"""CREATE FUNCTION people_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        changed_rows bigint;
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            UPDATE people_count SET members = 0;
            IF coalesce({DELTA}, '') <> '' THEN
                PERFORM set_config('club.people_count_delta', '0', true);
            END IF;
            RETURN NULL;
        END IF;
        SELECT count(*) INTO changed_rows FROM changed;
        IF changed_rows = 0 THEN
            RETURN NULL;
        END IF;
        IF coalesce({DELTA}, '') = '' THEN
            INSERT INTO people_count_pending VALUES (true);  -- the first change: people_count_apply runs at commit
            PERFORM set_config('club.people_count_delta', '0', true);
        END IF;
        PERFORM set_config('club.people_count_delta', ({DELTA}::bigint
            + CASE TG_OP WHEN 'INSERT' THEN changed_rows ELSE -changed_rows END)::text, true);
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION people_count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE people_count SET members = members + {DELTA}::bigint;
        PERFORM set_config('club.people_count_delta', '', true);
        DELETE FROM people_count_pending;
        RETURN NULL;
    END $$""",
    "CREATE CONSTRAINT TRIGGER people_count_apply AFTER INSERT ON people_count_pending DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION people_count_apply()",
    "CREATE TRIGGER people_count_insert AFTER INSERT ON people REFERENCING NEW TABLE AS changed"
    " FOR EACH STATEMENT EXECUTE FUNCTION people_count_change()",
    "CREATE TRIGGER people_count_delete AFTER DELETE ON people REFERENCING OLD TABLE AS changed"
    " FOR EACH STATEMENT EXECUTE FUNCTION people_count_change()",
    "CREATE TRIGGER people_count_truncate AFTER TRUNCATE ON people FOR EACH STATEMENT"
    " EXECUTE FUNCTION people_count_change()",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("LOCK TABLE people IN SHARE MODE")  # nobody joins between the count and the triggers
    op.execute("CREATE TABLE people_count (members BIGINT NOT NULL)")
    op.execute("INSERT INTO people_count (members) SELECT count(*) FROM people")
    for statement in POSTGRES if postgres else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for trigger in ("people_count_insert", "people_count_delete", "people_count_truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON people" if postgres else ""))
    if postgres:
        op.execute("DROP TABLE people_count_pending")
        op.execute("DROP FUNCTION people_count_apply()")
        op.execute("DROP FUNCTION people_count_change()")
    op.execute("DROP TABLE people_count")
