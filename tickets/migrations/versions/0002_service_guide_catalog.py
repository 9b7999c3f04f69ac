"""service-guide catalog

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:56:57.316571
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_revision'))
    )
    op.create_table('guide_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('implementation_code', sa.String(length=60), nullable=False),
    sa.Column('basic_code', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('search_name', sa.String(length=100), nullable=False),
    sa.Column('initials', sa.String(length=200), nullable=False),
    sa.Column('digits', sa.String(length=200), nullable=False),
    sa.Column('item_type', sa.Enum('LICENSING', 'PUBLIC_SERVICE', 'CONFIRMATION', 'PAYMENT', 'LEVY', 'REWARD', 'ADJUDICATION', 'INSPECTION', 'OTHER_POWER', name='itemtype', native_enum=False, length=32), nullable=False),
    sa.Column('agency', sa.String(length=100), nullable=False),
    sa.Column('department_code', sa.String(length=32), nullable=True),
    sa.Column('conditions', sa.Text(), nullable=False),
    sa.Column('statutory_limit_days', sa.Integer(), nullable=True),
    sa.Column('promised_limit_days', sa.Integer(), nullable=False),
    sa.Column('fee', sa.String(length=200), nullable=False),
    sa.Column('fee_basis', sa.Text(), nullable=True),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('hours', sa.String(length=200), nullable=False),
    sa.Column('consult_phone', sa.String(length=20), nullable=False),
    sa.Column('complaint_phone', sa.String(length=20), nullable=False),
    sa.Column('online_url', sa.String(length=500), nullable=True),
    sa.Column('trips', sa.Integer(), nullable=False),
    sa.Column('popularity_rank', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guide_items')),
    sa.UniqueConstraint('implementation_code', name=op.f('uq_guide_items_implementation_code'))
    )
    with op.batch_alter_table('guide_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guide_items_agency'), ['agency'], unique=False)
        batch_op.create_index(batch_op.f('ix_guide_items_basic_code'), ['basic_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_guide_items_department_code'), ['department_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_guide_items_digits'), ['digits'], unique=False)
        batch_op.create_index(batch_op.f('ix_guide_items_initials'), ['initials'], unique=False)
        batch_op.create_index(batch_op.f('ix_guide_items_popularity_rank'), ['popularity_rank'], unique=False)
        batch_op.create_index(batch_op.f('ix_guide_items_search_name'), ['search_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_guide_items_trips'), ['trips'], unique=False)

    op.create_table('guide_themes',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('AUDIENCE', 'LIFE_EVENT', name='themekind', native_enum=False, length=16), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_guide_themes'))
    )
    op.create_table('guide_item_themes',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('theme_code', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['guide_items.id'], name=op.f('fk_guide_item_themes_item_id_guide_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['theme_code'], ['guide_themes.code'], name=op.f('fk_guide_item_themes_theme_code_guide_themes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', 'theme_code', name=op.f('pk_guide_item_themes'))
    )
    with op.batch_alter_table('guide_item_themes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guide_item_themes_theme_code'), ['theme_code'], unique=False)

    op.create_table('guide_materials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('form', sa.Enum('ORIGINAL', 'COPY', 'ORIGINAL_AND_COPY', 'ELECTRONIC', name='materialform', native_enum=False, length=32), nullable=False),
    sa.Column('copies', sa.Integer(), nullable=False),
    sa.Column('notes', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['guide_items.id'], name=op.f('fk_guide_materials_item_id_guide_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guide_materials')),
    sa.UniqueConstraint('item_id', 'position', name=op.f('uq_guide_materials_item_id'))
    )
    op.create_table('guide_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['guide_items.id'], name=op.f('fk_guide_steps_item_id_guide_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guide_steps')),
    sa.UniqueConstraint('item_id', 'position', name=op.f('uq_guide_steps_item_id'))
    )


def downgrade() -> None:
    op.drop_table('guide_steps')
    op.drop_table('guide_materials')
    with op.batch_alter_table('guide_item_themes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guide_item_themes_theme_code'))

    op.drop_table('guide_item_themes')

    op.drop_table('guide_themes')
    with op.batch_alter_table('guide_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guide_items_trips'))
        batch_op.drop_index(batch_op.f('ix_guide_items_search_name'))
        batch_op.drop_index(batch_op.f('ix_guide_items_popularity_rank'))
        batch_op.drop_index(batch_op.f('ix_guide_items_initials'))
        batch_op.drop_index(batch_op.f('ix_guide_items_digits'))
        batch_op.drop_index(batch_op.f('ix_guide_items_department_code'))
        batch_op.drop_index(batch_op.f('ix_guide_items_basic_code'))
        batch_op.drop_index(batch_op.f('ix_guide_items_agency'))

    op.drop_table('guide_items')
    op.drop_table('catalog_revision')
