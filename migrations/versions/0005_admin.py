"""admin: audit log, member imports, admins' second factor, and the member search index

Revision ID: 0005_admin
Revises: 0004_ambassadors

The search index differs per database. PostgreSQL: pg_trgm and a GIN trigram index over people's name and email,
which serves ILIKE '%...%'. SQLite: an external-content FTS5 table with the trigram tokenizer over the same
columns, kept in sync with `people` by the triggers below. (A later migration that rebuilds `people` with
batch_alter_table on SQLite drops these triggers and must create them again: call sqlite_search_triggers().)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import club.db

revision: str = "0005_admin"
down_revision: str | None = "0004_ambassadors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE people_search USING fts5("
    "name, email, content='people', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER people_search_insert AFTER INSERT ON people BEGIN "
    "INSERT INTO people_search(rowid, name, email) VALUES (new.id, new.name, new.email); END",
    "CREATE TRIGGER people_search_delete AFTER DELETE ON people BEGIN "
    "INSERT INTO people_search(people_search, rowid, name, email) VALUES ('delete', old.id, old.name, old.email); "
    "END",
    "CREATE TRIGGER people_search_update AFTER UPDATE OF name, email ON people BEGIN "
    "INSERT INTO people_search(people_search, rowid, name, email) VALUES ('delete', old.id, old.name, old.email); "
    "INSERT INTO people_search(rowid, name, email) VALUES (new.id, new.name, new.email); END",
    "INSERT INTO people_search(people_search) VALUES ('rebuild')",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["people.id"], name=op.f("fk_audit_log_actor_id_people"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)
    op.create_index(op.f("ix_audit_log_actor_id"), "audit_log", ["actor_id"], unique=False)
    op.create_index(op.f("ix_audit_log_created_at"), "audit_log", ["created_at"], unique=False)
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id"], unique=False)

    op.create_table(
        "member_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("encoding", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("valid_rows", sa.Integer(), nullable=False),
        sa.Column("new_rows", sa.Integer(), nullable=False),
        sa.Column("problem_rows", sa.Integer(), nullable=False),
        sa.Column("without_consent", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["people.id"], name=op.f("fk_member_imports_created_by_people"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_imports")),
    )

    op.create_table(
        "admin_second_factors",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("enabled_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_admin_second_factors_person_id_people"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_admin_second_factors")),
    )
    op.create_table(
        "admin_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_admin_recovery_codes_person_id_people"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_recovery_codes")),
    )
    op.create_index(op.f("ix_admin_recovery_codes_person_id"), "admin_recovery_codes", ["person_id"], unique=False)

    op.create_index("ix_people_name_id", "people", ["name", "id"], unique=False)
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_people_search", "people", ["name", "email"], unique=False, postgresql_using="gin",
                    postgresql_ops={"name": "gin_trgm_ops", "email": "gin_trgm_ops"})
    if not postgres:
        sqlite_search_triggers()


def sqlite_search_triggers() -> None:
    for statement in SQLITE_SEARCH:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("people_search_insert", "people_search_delete", "people_search_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS people_search")
    op.drop_index("ix_people_search", table_name="people", postgresql_using="gin")
    op.drop_index("ix_people_name_id", table_name="people")
    op.drop_index(op.f("ix_admin_recovery_codes_person_id"), table_name="admin_recovery_codes")
    op.drop_table("admin_recovery_codes")
    op.drop_table("admin_second_factors")
    op.drop_table("member_imports")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_created_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_action"), table_name="audit_log")
    op.drop_table("audit_log")
