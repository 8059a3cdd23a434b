"""panellists' language and who withdrew them, consent documents and records, comment
moderation, and the consensus-settings CHECKs generated from the settings registry

Revision ID: a6f526534a27
Revises: 8c4f2a6d1e07
Create Date: 2026-12-01 19:59:42

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a6f526534a27'
down_revision = '8c4f2a6d1e07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('consent_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('information_sheet', sa.Text(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("information_sheet <> ''", name=op.f('ck_consent_document_information_sheet_not_empty')),
    sa.CheckConstraint("statement <> ''", name=op.f('ck_consent_document_statement_not_empty')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_consent_document_consent_version_positive')),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_consent_document_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_document')),
    sa.UniqueConstraint('study_id', 'version', name=op.f('uq_consent_document_study_id_version'))
    )
    with op.batch_alter_table('consent_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_document_study_id'), ['study_id'], unique=False)

    op.create_table('consent_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('panellist_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("decision IN ('consented', 'declined')", name=op.f('ck_consent_record_consent_decision_known')),
    sa.ForeignKeyConstraint(['document_id'], ['consent_document.id'], name=op.f('fk_consent_record_document_id_consent_document'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['panellist_id'], ['panellist.id'], name=op.f('fk_consent_record_panellist_id_panellist'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_record'))
    )
    with op.batch_alter_table('consent_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_record_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_record_panellist_id'), ['panellist_id'], unique=False)

    with op.batch_alter_table('panellist', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawal_kind', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=16), server_default='', nullable=False))
    # Every withdrawal before this version was made by the study team.
    op.execute("UPDATE panellist SET withdrawal_kind = 'team' WHERE withdrawn_at IS NOT NULL")
    with op.batch_alter_table('panellist', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_panellist_withdrawal_kind_known'), "withdrawal_kind IS NULL OR withdrawal_kind IN ('team', 'self', 'declined')")
        batch_op.create_check_constraint(op.f('ck_panellist_withdrawal_kind_when_withdrawn'), "(withdrawn_at IS NULL) = (withdrawal_kind IS NULL)")

    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moderation', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('redacted_comment', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('moderation_reason', sa.String(length=500), server_default='', nullable=False))
        batch_op.add_column(sa.Column('moderated_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_rating_moderation_known'), "moderation IS NULL OR moderation IN ('hidden', 'redacted')")
        batch_op.create_check_constraint(op.f('ck_rating_moderated_has_time'), "moderation IS NULL OR moderated_at IS NOT NULL")
        batch_op.create_check_constraint(op.f('ck_rating_redaction_has_text'), "moderation IS NULL OR moderation <> 'redacted' OR redacted_comment <> ''")

    # The settings' CHECKs, now generated from the registry: the database refuses what a
    # survey file may not hold.
    with op.batch_alter_table('consensus_settings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_consensus_settings_iqr_max_nonnegative'), type_='check')
        batch_op.drop_constraint(op.f('ck_consensus_settings_consensus_min_group_size_positive'), type_='check')
        batch_op.create_check_constraint(op.f('ck_consensus_settings_iqr_max_range'), "iqr_max BETWEEN 0 AND 100")
        batch_op.create_check_constraint(op.f('ck_consensus_settings_consensus_min_group_size_range'), "min_group_size BETWEEN 1 AND 1000")
        batch_op.create_check_constraint(op.f('ck_consensus_settings_iqr_median_min_range'), "iqr_median_min IS NULL OR iqr_median_min BETWEEN 0 AND 100")


def downgrade():
    with op.batch_alter_table('consensus_settings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_consensus_settings_iqr_median_min_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_consensus_settings_consensus_min_group_size_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_consensus_settings_iqr_max_range'), type_='check')
        batch_op.create_check_constraint(op.f('ck_consensus_settings_consensus_min_group_size_positive'), "min_group_size >= 1")
        batch_op.create_check_constraint(op.f('ck_consensus_settings_iqr_max_nonnegative'), "iqr_max >= 0")

    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_rating_redaction_has_text'), type_='check')
        batch_op.drop_constraint(op.f('ck_rating_moderated_has_time'), type_='check')
        batch_op.drop_constraint(op.f('ck_rating_moderation_known'), type_='check')
        batch_op.drop_column('moderated_at')
        batch_op.drop_column('moderation_reason')
        batch_op.drop_column('redacted_comment')
        batch_op.drop_column('moderation')

    with op.batch_alter_table('panellist', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_panellist_withdrawal_kind_when_withdrawn'), type_='check')
        batch_op.drop_constraint(op.f('ck_panellist_withdrawal_kind_known'), type_='check')
        batch_op.drop_column('language')
        batch_op.drop_column('withdrawal_kind')

    with op.batch_alter_table('consent_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_record_panellist_id'))
        batch_op.drop_index(batch_op.f('ix_consent_record_document_id'))

    op.drop_table('consent_record')
    with op.batch_alter_table('consent_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_document_study_id'))

    op.drop_table('consent_document')
