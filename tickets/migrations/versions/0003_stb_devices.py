"""set-top boxes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 05:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stb_devices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('stbid', sa.String(length=64), nullable=False),
        sa.Column('mac', sa.String(length=17), nullable=False),
        sa.Column('ca_serial', sa.String(length=32), nullable=True),
        sa.Column('town_code', sa.String(length=32), nullable=True),
        sa.Column('salt', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stb_devices')),
        sa.UniqueConstraint('stbid', name=op.f('uq_stb_devices_stbid')),
    )
    with op.batch_alter_table('stb_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stb_devices_mac'), ['mac'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stb_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stb_devices_mac'))
    op.drop_table('stb_devices')
