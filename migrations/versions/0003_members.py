"""members: interests (seeded with the twinning's areas), consents, welcome texts, erasure counts

Revision ID: 0003_members
Revises: 0002_mail
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import club.db

revision: str = "0003_members"
down_revision: str | None = "0002_mail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The areas of the 2016 cooperation agreement between Ghent and Kanazawa, as the join form first shows them.
INTERESTS = [
    ("student-exchange", "Studentenuitwisseling", "Student exchange", "学生交流"),
    ("culture-crafts", "Cultuur en ambachten", "Culture and crafts", "文化・工芸"),
    ("tourism-promotion", "Toerisme en promotie", "Tourism and promotion", "観光・プロモーション"),
    ("sport", "Sport", "Sport", "スポーツ"),
    ("youth", "Jongeren", "Youth", "青少年"),
    ("jazz-music", "Jazz en muziek", "Jazz and music", "ジャズ・音楽"),
    ("food", "Eten", "Food", "食"),
    ("sustainability", "Duurzaamheid", "Sustainability", "持続可能性"),
]


def upgrade() -> None:
    op.create_table(
        "erasure_counts",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_erasure_counts")),
    )
    interests = op.create_table(
        "interests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name_nl", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("name_ja", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interests")),
        sa.UniqueConstraint("slug", name=op.f("uq_interests_slug")),
    )
    op.create_table(
        "welcome_texts",
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("language", name=op.f("pk_welcome_texts")),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("given", sa.Boolean(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("text_version", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", club.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_consents_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_person_id"), "consents", ["person_id"], unique=False)
    op.create_table(
        "member_interests",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("interest_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interest_id"],
            ["interests.id"],
            name=op.f("fk_member_interests_interest_id_interests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_member_interests_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", "interest_id", name=op.f("pk_member_interests")),
    )
    op.create_index(op.f("ix_member_interests_interest_id"), "member_interests", ["interest_id"], unique=False)
    op.bulk_insert(
        interests,
        [
            {"slug": slug, "name_nl": nl, "name_en": en, "name_ja": ja, "position": position}
            for position, (slug, nl, en, ja) in enumerate(INTERESTS, start=1)
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_member_interests_interest_id"), table_name="member_interests")
    op.drop_table("member_interests")
    op.drop_index(op.f("ix_consents_person_id"), table_name="consents")
    op.drop_table("consents")
    op.drop_table("welcome_texts")
    op.drop_table("interests")
    op.drop_table("erasure_counts")
