"""ambassadors: one name for the code in an ambassador's join link, `ref`, as in /join?ref=...
(ambassadors.recruiting_code and people.joined_via become ambassadors.ref and people.ref)

Revision ID: 0009_ambassadors
Revises: 0008_newsletters
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_ambassadors"
down_revision: str | None = "0008_newsletters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rename(old: str, new: str) -> None:
    # A plain RENAME COLUMN on both databases: no table rebuild, so on SQLite `people` keeps AUTOINCREMENT and the
    # search triggers of 0005, and `ambassadors` keeps the rows that appointments point to.
    op.execute(f"ALTER TABLE people RENAME COLUMN {old[0]} TO {new[0]}")
    op.execute(f"ALTER TABLE ambassadors RENAME COLUMN {old[1]} TO {new[1]}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX ix_people_{old[0]} RENAME TO ix_people_{new[0]}")
        op.execute(f"ALTER TABLE ambassadors RENAME CONSTRAINT uq_ambassadors_{old[1]} TO uq_ambassadors_{new[1]}")
    else:
        op.execute(f"DROP INDEX ix_people_{old[0]}")
        op.execute(f"CREATE INDEX ix_people_{new[0]} ON people ({new[0]})")
        _rename_sqlite_constraint("ambassadors", f"uq_ambassadors_{old[1]}", f"uq_ambassadors_{new[1]}")


def _rename_sqlite_constraint(table: str, old: str, new: str) -> None:
    """SQLite has no RENAME CONSTRAINT, and rebuilding `ambassadors` would cascade-delete every appointment (foreign
    keys are on). A constraint's name is not stored with the data, so the documented writable_schema procedure for
    changes that leave the stored content alone applies (sqlite.org/lang_altertable.html, section 7)."""
    bind = op.get_bind()
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?", (old, new, table)
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    _rename(("joined_via", "recruiting_code"), ("ref", "ref"))


def downgrade() -> None:
    _rename(("ref", "ref"), ("joined_via", "recruiting_code"))
