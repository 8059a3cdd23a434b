"""team roles and invitations, password resets and second factors, site admins;
statement blocks stored at launch; study time zone, reminders, email texts; suggestion
states; the final meeting's outcomes

Revision ID: acab6b0c33e9
Revises: a6f526534a27
Create Date: 2026-12-01 20:25:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'acab6b0c33e9'
down_revision = 'a6f526534a27'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_reset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('facilitator_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['facilitator_id'], ['facilitator.id'], name=op.f('fk_password_reset_facilitator_id_facilitator'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_reset_token_hash'))
    )
    with op.batch_alter_table('password_reset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_reset_facilitator_id'), ['facilitator_id'], unique=False)

    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('facilitator_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['facilitator_id'], ['facilitator.id'], name=op.f('fk_recovery_code_facilitator_id_facilitator'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_facilitator_id'), ['facilitator_id'], unique=False)

    op.create_table('team_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("role IN ('owner', 'editor', 'viewer', 'statistician')", name=op.f('ck_team_invitation_role_known')),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_team_invitation_email_lowercase')),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['facilitator.id'], name=op.f('fk_team_invitation_accepted_by_id_facilitator'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['facilitator.id'], name=op.f('fk_team_invitation_invited_by_id_facilitator'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_team_invitation_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_invitation')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_team_invitation_token_hash'))
    )
    with op.batch_alter_table('team_invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_invitation_study_id'), ['study_id'], unique=False)

    op.create_table('meeting_outcome',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('votes_for', sa.Integer(), nullable=False),
    sa.Column('votes_against', sa.Integer(), nullable=False),
    sa.Column('votes_abstain', sa.Integer(), nullable=False),
    sa.Column('final_wording', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('votes_for >= 0 AND votes_against >= 0 AND votes_abstain >= 0', name=op.f('ck_meeting_outcome_votes_nonnegative')),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_meeting_outcome_item_id_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_meeting_outcome_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_outcome')),
    sa.UniqueConstraint('study_id', 'item_id', name=op.f('uq_meeting_outcome_study_id_item_id'))
    )
    with op.batch_alter_table('meeting_outcome', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_outcome_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_outcome_study_id'), ['study_id'], unique=False)

    op.create_table('statement_block',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('template_version', sa.String(length=16), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('head_html', sa.Text(), nullable=False),
    sa.Column('feedback_html', sa.Text(), nullable=False),
    sa.Column('groups_html', sa.Text(), nullable=False),
    sa.Column('feedback_item_id', sa.Integer(), nullable=True),
    sa.Column('built_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['feedback_item_id'], ['item.id'], name=op.f('fk_statement_block_feedback_item_id_item'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_statement_block_item_id_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_statement_block_round_id_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statement_block')),
    sa.UniqueConstraint('round_id', 'item_id', 'locale', name=op.f('uq_statement_block_round_id_item_id_locale'))
    )
    with op.batch_alter_table('statement_block', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statement_block_round_id'), ['round_id'], unique=False)

    with op.batch_alter_table('facilitator', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_admin', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_pending_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reopened', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), server_default='UTC', nullable=False))
        batch_op.add_column(sa.Column('reminder_days', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('suggestions_every_round', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), server_default='', nullable=False))
        batch_op.add_column(sa.Column('contact_person', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('email_texts', sa.JSON(), server_default='{}', nullable=False))
        batch_op.create_check_constraint(op.f('ck_study_time_zone_not_empty'), "time_zone <> ''")

    with op.batch_alter_table('suggestion', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), server_default='open', nullable=False))
        batch_op.add_column(sa.Column('state_reason', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_suggestion_suggestion_state_known'), "state IN ('open', 'dismissed', 'merged', 'split')")
        batch_op.create_index(batch_op.f('ix_suggestion_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_suggestion_parent_id_suggestion'), 'suggestion', ['parent_id'], ['id'], ondelete='SET NULL')

    # The old 'member' could do everything but manage the team: an editor now.
    with op.batch_alter_table('study_membership', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_study_membership_role_known'), type_='check')
    op.execute("UPDATE study_membership SET role = 'editor' WHERE role = 'member'")
    with op.batch_alter_table('study_membership', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_study_membership_role_known'), "role IN ('owner', 'editor', 'viewer', 'statistician')")


def downgrade():
    # Viewers and statisticians had no equivalent before: every non-owner was a member.
    with op.batch_alter_table('study_membership', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_study_membership_role_known'), type_='check')
    op.execute("UPDATE study_membership SET role = 'member' WHERE role <> 'owner'")
    with op.batch_alter_table('study_membership', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_study_membership_role_known'), "role IN ('owner', 'member')")

    with op.batch_alter_table('suggestion', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_suggestion_parent_id_suggestion'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_suggestion_parent_id'))
        batch_op.drop_constraint(op.f('ck_suggestion_suggestion_state_known'), type_='check')
        batch_op.drop_column('parent_id')
        batch_op.drop_column('state_reason')
        batch_op.drop_column('state')

    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_study_time_zone_not_empty'), type_='check')
        batch_op.drop_column('email_texts')
        batch_op.drop_column('contact_person')
        batch_op.drop_column('reply_to')
        batch_op.drop_column('suggestions_every_round')
        batch_op.drop_column('reminder_days')
        batch_op.drop_column('time_zone')

    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.drop_column('reopened')

    with op.batch_alter_table('facilitator', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_pending_secret')
        batch_op.drop_column('totp_secret')
        batch_op.drop_column('is_admin')

    with op.batch_alter_table('statement_block', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_statement_block_round_id'))

    op.drop_table('statement_block')
    with op.batch_alter_table('meeting_outcome', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_outcome_study_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_outcome_item_id'))

    op.drop_table('meeting_outcome')
    with op.batch_alter_table('team_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_invitation_study_id'))

    op.drop_table('team_invitation')
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_facilitator_id'))

    op.drop_table('recovery_code')
    with op.batch_alter_table('password_reset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_reset_facilitator_id'))

    op.drop_table('password_reset')
