"""hit-test sets and per-collection bands

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 01:40:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('test_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('collection_id', sa.Integer(), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('expected', sa.JSON(), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('collection_id', 'query')
    )
    with op.batch_alter_table('test_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_questions_collection_id'), ['collection_id'], unique=False)
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bands', sa.JSON(), nullable=True))
    with op.batch_alter_table('index_builds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bands', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('evaluation', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('index_builds', schema=None) as batch_op:
        batch_op.drop_column('evaluation')
        batch_op.drop_column('bands')
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_column('bands')
    with op.batch_alter_table('test_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_test_questions_collection_id'))
    op.drop_table('test_questions')
