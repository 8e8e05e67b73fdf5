"""build snapshots: the entries each build was made from

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:30:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('build_snapshots',
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['build_id'], ['index_builds.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('build_id')
    )


def downgrade() -> None:
    op.drop_table('build_snapshots')
