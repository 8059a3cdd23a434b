"""analysis settings (Wilcoxon, Scheibe, group-rule minimum, round thresholds), a scale
per section, references and evidence summaries

Revision ID: 5b2d8e7a9c05
Revises: e1a4c9b20f04
Create Date: 2026-12-01 16:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b2d8e7a9c05'
down_revision = 'e1a4c9b20f04'
branch_labels = None
depends_on = None

SCALES = "'grade-1-9', 'agreement-1-9', 'agree-5', 'agree-7', 'yes-no'"
OLD_SCALES = "'grade-1-9', 'agree-5', 'agree-7', 'yes-no'"


def upgrade():
    with op.batch_alter_table('consensus_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_group_size', sa.Integer(), server_default='3', nullable=False))
        batch_op.add_column(sa.Column('scheibe_threshold', sa.Double(), server_default='0.15', nullable=False))
        batch_op.add_column(sa.Column('wilcoxon_zero_method', sa.String(length=8), server_default='wilcox', nullable=False))
        batch_op.add_column(sa.Column('wilcoxon_correction', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('round_thresholds', sa.JSON(), server_default='{}', nullable=False))
        batch_op.create_check_constraint(op.f('ck_consensus_settings_zero_method_known'), "wilcoxon_zero_method IN ('wilcox', 'pratt', 'zsplit')")
        batch_op.create_check_constraint(op.f('ck_consensus_settings_scheibe_range'), "scheibe_threshold BETWEEN 0 AND 1")
        batch_op.create_check_constraint(op.f('ck_consensus_settings_consensus_min_group_size_positive'), "min_group_size >= 1")

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('references', sa.JSON(), server_default='[]', nullable=False))

    with op.batch_alter_table('section', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scale_key', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('evidence', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('references', sa.JSON(), server_default='[]', nullable=False))
        batch_op.create_check_constraint(op.f('ck_section_section_scale_known'), f"scale_key IS NULL OR scale_key IN ({SCALES})")

    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_study_scale_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_study_scale_known'), f"scale_key IN ({SCALES})")


def downgrade():
    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_study_scale_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_study_scale_known'), f"scale_key IN ({OLD_SCALES})")

    with op.batch_alter_table('section', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_section_section_scale_known'), type_='check')
        batch_op.drop_column('references')
        batch_op.drop_column('evidence')
        batch_op.drop_column('scale_key')

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_column('references')

    with op.batch_alter_table('consensus_settings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_consensus_settings_consensus_min_group_size_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_consensus_settings_scheibe_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_consensus_settings_zero_method_known'), type_='check')
        batch_op.drop_column('round_thresholds')
        batch_op.drop_column('wilcoxon_correction')
        batch_op.drop_column('wilcoxon_zero_method')
        batch_op.drop_column('scheibe_threshold')
        batch_op.drop_column('min_group_size')
