"""ambassadors: recruiting codes, appointments (terms), activities and their photos

Revision ID: 0004_ambassadors
Revises: 0003_members
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import club.db

revision: str = "0004_ambassadors"
# The lead re-chains this onto 0003_members (and 0005_admin onto 0004_ambassadors). Until then it sits on the
# current head so the shared tree keeps a single head; its tables depend only on `people`, so order is free.
down_revision: str | None = "0003_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ambassadors',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('recruiting_code', sa.String(length=40), nullable=False),
    sa.Column('created_at', club.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_ambassadors_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_ambassadors')),
    sa.UniqueConstraint('recruiting_code', name=op.f('uq_ambassadors_recruiting_code'))
    )
    op.create_table('appointments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('home_institution', sa.String(length=120), nullable=False),
    sa.Column('host_institution', sa.String(length=120), nullable=False),
    sa.Column('stationed_in', sa.String(length=20), nullable=False),
    sa.Column('appointed_by_id', sa.Integer(), nullable=True),
    sa.Column('ended_by_id', sa.Integer(), nullable=True),
    sa.Column('reminded_at', club.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', club.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointed_by_id'], ['people.id'], name=op.f('fk_appointments_appointed_by_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ended_by_id'], ['people.id'], name=op.f('fk_appointments_ended_by_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['ambassadors.person_id'], name=op.f('fk_appointments_person_id_ambassadors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments'))
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointments_ended_on'), ['ended_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_person_id'), ['person_id'], unique=False)

    op.create_table('activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('happened_on', sa.Date(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=30), nullable=False),
    sa.Column('city', sa.String(length=20), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('description_html', sa.Text(), nullable=False),
    sa.Column('people_reached', sa.Integer(), nullable=False),
    sa.Column('quarter_hours', sa.Integer(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.Column('public', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('review_comment', sa.Text(), nullable=True),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', club.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', club.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', club.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', club.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_activities_appointment_id_appointments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_activities_person_id_people'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['people.id'], name=op.f('fk_activities_reviewed_by_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activities_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index('ix_activities_numbers', ['status', 'happened_on', 'category', 'city', 'quarter_hours', 'people_reached', 'person_id', 'appointment_id'], unique=False)
        batch_op.create_index('ix_activities_person', ['person_id', 'created_at'], unique=False)
        batch_op.create_index('ix_activities_queue', ['status', 'submitted_at', 'id'], unique=False)
        batch_op.create_index('ix_activities_wall', ['status', 'public', 'happened_on', 'id'], unique=False)
        batch_op.create_index('ix_activities_wall_category', ['status', 'public', 'category', 'happened_on', 'id'], unique=False)
        batch_op.create_index('ix_activities_wall_city', ['status', 'public', 'city', 'happened_on', 'id'], unique=False)

    op.create_table('activity_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_at', club.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_activity_photos_activity_id_activities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_photos')),
    sa.UniqueConstraint('key', name=op.f('uq_activity_photos_key'))
    )
    with op.batch_alter_table('activity_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_photos_activity_id'), ['activity_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('activity_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_photos_activity_id'))

    op.drop_table('activity_photos')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_wall_city')
        batch_op.drop_index('ix_activities_wall_category')
        batch_op.drop_index('ix_activities_wall')
        batch_op.drop_index('ix_activities_queue')
        batch_op.drop_index('ix_activities_person')
        batch_op.drop_index('ix_activities_numbers')
        batch_op.drop_index(batch_op.f('ix_activities_appointment_id'))

    op.drop_table('activities')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointments_person_id'))
        batch_op.drop_index(batch_op.f('ix_appointments_ended_on'))

    op.drop_table('appointments')
    op.drop_table('ambassadors')
