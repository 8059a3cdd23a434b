"""conflict of interest declarations: panellists' and team members', and the study
setting that asks panellists for one

Revision ID: 20bac2439fa5
Revises: a01acb79497a
Create Date: 2026-12-01 22:20:57.731957

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20bac2439fa5'
down_revision = 'a01acb79497a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('conflict_declaration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('panellist_id', sa.Integer(), nullable=True),
    sa.Column('facilitator_id', sa.Integer(), nullable=True),
    sa.Column('has_conflicts', sa.Boolean(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('declared_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("has_conflicts OR details = ''", name=op.f('ck_conflict_declaration_declaration_details_if_any')),
    sa.CheckConstraint('(panellist_id IS NULL) <> (facilitator_id IS NULL)', name=op.f('ck_conflict_declaration_declaration_one_declarant')),
    sa.ForeignKeyConstraint(['facilitator_id'], ['facilitator.id'], name=op.f('fk_conflict_declaration_facilitator_id_facilitator'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['panellist_id'], ['panellist.id'], name=op.f('fk_conflict_declaration_panellist_id_panellist'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_conflict_declaration_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conflict_declaration')),
    sa.UniqueConstraint('study_id', 'facilitator_id', name=op.f('uq_conflict_declaration_study_id_facilitator_id')),
    sa.UniqueConstraint('study_id', 'panellist_id', name=op.f('uq_conflict_declaration_study_id_panellist_id'))
    )
    with op.batch_alter_table('conflict_declaration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conflict_declaration_facilitator_id'), ['facilitator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conflict_declaration_panellist_id'), ['panellist_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conflict_declaration_study_id'), ['study_id'], unique=False)

    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.add_column(sa.Column('asks_conflict_declarations', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_column('asks_conflict_declarations')

    with op.batch_alter_table('conflict_declaration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conflict_declaration_study_id'))
        batch_op.drop_index(batch_op.f('ix_conflict_declaration_panellist_id'))
        batch_op.drop_index(batch_op.f('ix_conflict_declaration_facilitator_id'))

    op.drop_table('conflict_declaration')
