"""deployment safety and personal data: erasure, archive, retention, login sessions, login delays, worker heartbeat, mail leases, sheet versions, withdrawal, short study names

Revision ID: e1a4c9b20f04
Revises: d35f534d4ddf
Create Date: 2026-12-01 15:50:59.929187

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1a4c9b20f04'
down_revision = 'd35f534d4ddf'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('panellist', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erasure', sa.String(length=24), server_default='keep-pseudonymised', nullable=False))
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(), nullable=True))
        batch_op.drop_constraint(op.f('ck_study_study_state'), type_='check')
        batch_op.create_check_constraint(op.f('ck_study_study_state'), "state IN ('draft', 'running', 'finished', 'archived')")
        batch_op.create_check_constraint(op.f('ck_study_erasure_known'), "erasure IN ('keep-pseudonymised', 'delete-answers')")
        batch_op.create_check_constraint(op.f('ck_study_retention_days_nonnegative'), "retention_days IS NULL OR retention_days >= 0")

    op.create_table('facilitator_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('facilitator_id', sa.Integer(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['facilitator_id'], ['facilitator.id'], name=op.f('fk_facilitator_session_facilitator_id_facilitator'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_facilitator_session')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_facilitator_session_secret_hash'))
    )
    with op.batch_alter_table('facilitator_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_facilitator_session_facilitator_id'), ['facilitator_id'], unique=False)

    with op.batch_alter_table('throttle_counter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_allowed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('refused', sa.Integer(), server_default='0', nullable=False))

    op.create_table('worker_heartbeat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_worker_heartbeat')),
    sa.UniqueConstraint('worker', name=op.f('uq_worker_heartbeat_worker'))
    )
    with op.batch_alter_table('worker_heartbeat', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_heartbeat_last_seen_at'), ['last_seen_at'], unique=False)

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leased_by', sa.String(length=200), nullable=True))

    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('saved_from', sa.String(length=16), server_default='', nullable=False))

    with op.batch_alter_table('panellist', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('withdrawal_reason', sa.String(length=500), server_default='', nullable=False))
    # A panellist made inactive before withdrawal existed counts as withdrawn from now on.
    op.execute("UPDATE panellist SET withdrawn_at = CURRENT_TIMESTAMP WHERE NOT is_active")

    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.add_column(sa.Column('short_name', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('sender_name', sa.String(length=120), server_default='', nullable=False))



def downgrade():
    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_study_retention_days_nonnegative'), type_='check')
        batch_op.drop_constraint(op.f('ck_study_erasure_known'), type_='check')
        batch_op.drop_constraint(op.f('ck_study_study_state'), type_='check')
        batch_op.create_check_constraint(op.f('ck_study_study_state'), "state IN ('draft', 'running', 'finished')")
        batch_op.drop_column('archived_at')
        batch_op.drop_column('finished_at')
        batch_op.drop_column('retention_days')
        batch_op.drop_column('erasure')

    with op.batch_alter_table('panellist', schema=None) as batch_op:
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('throttle_counter', schema=None) as batch_op:
        batch_op.drop_column('refused')
        batch_op.drop_column('next_allowed_at')

    with op.batch_alter_table('facilitator_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_facilitator_session_facilitator_id'))

    op.drop_table('facilitator_session')

    with op.batch_alter_table('panellist', schema=None) as batch_op:
        batch_op.drop_column('withdrawal_reason')
        batch_op.drop_column('withdrawn_at')

    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_column('sender_name')
        batch_op.drop_column('short_name')

    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.drop_column('saved_from')
        batch_op.drop_column('version')

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('leased_by')

    with op.batch_alter_table('worker_heartbeat', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_heartbeat_last_seen_at'))

    op.drop_table('worker_heartbeat')
