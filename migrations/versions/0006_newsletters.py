"""newsletters: newsletters, their variants per language, and uploaded images

Revision ID: 0006_newsletters
Revises: 0005_admin
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import club.db

revision: str = "0006_newsletters"
# The lead re-chains this onto 0005_admin once 0004_ambassadors and 0005_admin exist.
down_revision: str | None = "0005_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "newsletters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("fallback_language", sa.String(length=2), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("scheduled_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", club.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_newsletters_created_by_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletters")),
    )
    op.create_index("ix_newsletters_status_scheduled_at", "newsletters", ["status", "scheduled_at"], unique=False)
    op.create_table(
        "newsletter_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["newsletter_id"],
            ["newsletters.id"],
            name=op.f("fk_newsletter_images_newsletter_id_newsletters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter_images")),
        sa.UniqueConstraint("token", name=op.f("uq_newsletter_images_token")),
    )
    op.create_index(op.f("ix_newsletter_images_newsletter_id"), "newsletter_images", ["newsletter_id"], unique=False)
    op.create_table(
        "newsletter_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("preheader", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["newsletter_id"],
            ["newsletters.id"],
            name=op.f("fk_newsletter_variants_newsletter_id_newsletters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter_variants")),
        sa.UniqueConstraint(
            "newsletter_id", "language", name=op.f("uq_newsletter_variants_newsletter_id_language")
        ),
    )


def downgrade() -> None:
    op.drop_table("newsletter_variants")
    op.drop_index(op.f("ix_newsletter_images_newsletter_id"), table_name="newsletter_images")
    op.drop_table("newsletter_images")
    op.drop_index("ix_newsletters_status_scheduled_at", table_name="newsletters")
    op.drop_table("newsletters")
