"""member version: a number that goes up with every change the member list shows or filters on, so the list can
keep what it rendered and still never show a stale row

Revision ID: 0017_member_version
Revises: 0016_event_checks

`people_count.version` goes up with every INSERT, UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) of `people`,
`member_interests` (the interest filter) and `interests` (the slugs the filter matches). What was rendered or
counted under a version is exact for as long as the version stays (club.admin.search), in every process, whoever
made the change: a service, an import, a command or a hand-written UPDATE.

SQLite adds one per row, in the triggers that also keep `members` (0015), now one trigger per table and operation.
PostgreSQL keeps 0015's design: the statement triggers add a transaction's changes of `members` to the
transaction-local delta, and the first change of the transaction, whatever its table (an UPDATE adds 0), inserts
the `people_count_pending` row, so the deferred `people_count_apply` adds the delta and one to `version` once, at
commit: the row is still locked only while a transaction commits. TRUNCATE of `people` sets `members` to 0 and goes
up at once, as before. Like 0015's, these triggers are no models, and a later migration that rebuilds `people` (or
`member_interests`, `interests`) on SQLite must create the SQLITE triggers below again. Downgrade restores 0015's
triggers and drops the column.
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0017_member_version"
down_revision: str | None = "0016_event_checks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the member list shows or filters on; the first one is also counted.
TABLES = ("people", "member_interests", "interests")


def trigger_name(table: str, operation: str) -> str:
    """people_count_insert on people (0015's names), people_count_interests_insert on interests, ..."""
    return "_".join(["people_count", *([table] if table != "people" else []), operation])


def sqlite_trigger(table: str, operation: str) -> str:
    members = {("people", "insert"): "members = members + 1, ", ("people", "delete"): "members = members - 1, "}
    return (
        f"CREATE TRIGGER {trigger_name(table, operation)} AFTER {operation.upper()} ON {table}"
        f" BEGIN UPDATE people_count SET {members.get((table, operation), '')}version = version + 1; END"
    )


SQLITE = [sqlite_trigger(table, operation) for table in TABLES for operation in ("insert", "update", "delete")]

DELTA = "current_setting('club.people_count_delta', true)"
POSTGRES = [
    "CREATE TABLE people_count_pending (pending BOOLEAN NOT NULL)",
    f"""CREATE FUNCTION people_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        members_delta bigint := 0;
    BEGIN
        IF TG_OP = 'TRUNCATE' AND TG_TABLE_NAME = 'people' THEN
            UPDATE people_count SET members = 0, version = version + 1;
            IF coalesce({DELTA}, '') <> '' THEN
                PERFORM set_config('club.people_count_delta', '0', true);
            END IF;
            RETURN NULL;
        END IF;
        IF TG_OP <> 'TRUNCATE' THEN
            IF NOT EXISTS (SELECT FROM changed) THEN
                RETURN NULL;
            END IF;
            IF TG_TABLE_NAME = 'people' AND TG_OP <> 'UPDATE' THEN
                SELECT CASE TG_OP WHEN 'INSERT' THEN count(*) ELSE -count(*) END INTO members_delta FROM changed;
            END IF;
        END IF;
        IF coalesce({DELTA}, '') = '' THEN
            INSERT INTO people_count_pending VALUES (true);  -- the first change: people_count_apply runs at commit
            PERFORM set_config('club.people_count_delta', '0', true);
        END IF;
        IF members_delta <> 0 THEN
            PERFORM set_config('club.people_count_delta', ({DELTA}::bigint + members_delta)::text, true);
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION people_count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE people_count SET members = members + {DELTA}::bigint, version = version + 1;
        PERFORM set_config('club.people_count_delta', '', true);
        DELETE FROM people_count_pending;
        RETURN NULL;
    END $$""",
    "CREATE CONSTRAINT TRIGGER people_count_apply AFTER INSERT ON people_count_pending DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION people_count_apply()",
    *(
        f"CREATE TRIGGER {trigger_name(table, operation)} AFTER {operation.upper()} ON {table}"
        f" REFERENCING {'OLD' if operation == 'delete' else 'NEW'} TABLE AS changed"
        " FOR EACH STATEMENT EXECUTE FUNCTION people_count_change()"
        for table in TABLES
        for operation in ("insert", "update", "delete")
    ),
    *(
        f"CREATE TRIGGER {trigger_name(table, 'truncate')} AFTER TRUNCATE ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION people_count_change()"
        for table in TABLES
    ),
]


def drop_triggers(postgres: bool) -> None:
    """This revision's triggers (0015's among them), its functions and pending table: `people_count` stays."""
    for table in TABLES:
        for operation in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger_name(table, operation)}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP TABLE people_count_pending")  # with its people_count_apply trigger
        op.execute("DROP FUNCTION people_count_apply()")
        op.execute("DROP FUNCTION people_count_change()")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    drop_triggers(postgres)
    op.execute("ALTER TABLE people_count ADD COLUMN version BIGINT NOT NULL DEFAULT 0")
    for statement in POSTGRES if postgres else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    drop_triggers(postgres)
    op.execute("ALTER TABLE people_count DROP COLUMN version")
    member_search = context.script.get_revision("0015_member_search").module
    for statement in member_search.POSTGRES if postgres else member_search.SQLITE:
        op.execute(statement)
