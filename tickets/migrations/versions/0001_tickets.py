"""tickets, events, departments, users, calendar, call records

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 04:36:46.511042
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# The audit trail is append-only: the database itself refuses to change or delete an event.
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events "
    "BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only'); END",
    "CREATE TRIGGER ticket_events_no_delete BEFORE DELETE ON ticket_events "
    "BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only'); END",
)
_PG_TRIGGERS = (
    "CREATE FUNCTION ticket_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'ticket_events is append-only'; END $$",
    "CREATE TRIGGER ticket_events_no_change BEFORE UPDATE OR DELETE ON ticket_events "
    "FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only()",
)


def _create_triggers() -> None:
    statements = _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ticket_events_no_change ON ticket_events")
        op.execute("DROP FUNCTION IF EXISTS ticket_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS ticket_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS ticket_events_no_delete")


def upgrade() -> None:
    op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('working', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_days'))
    )
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('code', name=op.f('uq_departments_code'))
    )
    op.create_table('ticket_sequences',
    sa.Column('day', sa.String(length=6), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_ticket_sequences'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.Enum('agent', 'supervisor', 'department', 'admin', name='role', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('extension', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_users_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=12), nullable=False),
    sa.Column('code_salt', sa.String(length=32), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.Enum('hotline', 'stb', 'web', 'agent', 'open311', name='channel', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('kind', sa.Enum('consultation', 'help', 'suggestion', 'complaint', 'report', name='kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('town_code', sa.String(length=16), nullable=True),
    sa.Column('village_code', sa.String(length=16), nullable=True),
    sa.Column('address', sa.String(length=256), nullable=True),
    sa.Column('caller_phone', sa.String(length=32), nullable=True),
    sa.Column('caller_name', sa.String(length=64), nullable=True),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('transcript', sa.Text(), nullable=True),
    sa.Column('transcript_confidence', sa.Float(), nullable=True),
    sa.Column('recording_ref', sa.String(length=256), nullable=True),
    sa.Column('recording_s', sa.Float(), nullable=True),
    sa.Column('status', sa.Enum('registered', 'dispatched', 'in_progress', 'returned', 'extended', 'resolved', 'reopened', 'called_back', 'closed', 'merged', name='status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('lead_department_id', sa.Integer(), nullable=True),
    sa.Column('owner_agent_id', sa.Integer(), nullable=True),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.Column('escalation_reason', sa.Text(), nullable=True),
    sa.Column('needs_callback', sa.Boolean(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('probable_duplicate_of_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.CheckConstraint('satisfaction IS NULL OR satisfaction BETWEEN 1 AND 3', name=op.f('ck_tickets_satisfaction_range')),
    sa.ForeignKeyConstraint(['lead_department_id'], ['departments.id'], name=op.f('fk_tickets_lead_department_id_departments')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['tickets.id'], name=op.f('fk_tickets_merged_into_id_tickets')),
    sa.ForeignKeyConstraint(['owner_agent_id'], ['users.id'], name=op.f('fk_tickets_owner_agent_id_users')),
    sa.ForeignKeyConstraint(['probable_duplicate_of_id'], ['tickets.id'], name=op.f('fk_tickets_probable_duplicate_of_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
    sa.UniqueConstraint('number', name=op.f('uq_tickets_number'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_caller_open', ['caller_phone', 'status'], unique=False)
        batch_op.create_index('ix_tickets_dup', ['caller_phone', 'category', 'created_at'], unique=False)
        batch_op.create_index('ix_tickets_status_deadline', ['status', 'deadline'], unique=False)

    op.create_table('call_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('caller_masked', sa.String(length=32), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Enum('self_served', 'ticket_registered', 'transferred', 'callback_requested', 'abandoned', 'rejected', name='calloutcome', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('worker', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_call_records_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_records')),
    sa.UniqueConstraint('call_id', name=op.f('uq_call_records_call_id'))
    )
    op.create_table('query_guards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('hotline', 'stb', 'web', 'agent', 'open311', name='channel', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_query_guards_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_guards')),
    sa.UniqueConstraint('ticket_id', 'channel', name=op.f('uq_query_guards_ticket_id'))
    )
    op.create_table('ticket_assisting_departments',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_ticket_assisting_departments_department_id_departments')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_assisting_departments_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'department_id', name=op.f('pk_ticket_assisting_departments'))
    )
    op.create_table('ticket_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.Enum('registered', 'dispatched', 'in_progress', 'returned', 'extended', 'resolved', 'reopened', 'called_back', 'closed', 'merged', name='from_status', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('to_status', sa.Enum('registered', 'dispatched', 'in_progress', 'returned', 'extended', 'resolved', 'reopened', 'called_back', 'closed', 'merged', name='to_status', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_ticket_events_actor_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_events_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events'))
    )
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_events_ticket', ['ticket_id', 'id'], unique=False)


    _create_triggers()

def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_events_ticket')

    op.drop_table('ticket_events')
    op.drop_table('ticket_assisting_departments')
    op.drop_table('query_guards')
    op.drop_table('call_records')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_status_deadline')
        batch_op.drop_index('ix_tickets_dup')
        batch_op.drop_index('ix_tickets_caller_open')

    op.drop_table('tickets')
    op.drop_table('users')
    op.drop_table('ticket_sequences')
    op.drop_table('departments')
    op.drop_table('calendar_days')
