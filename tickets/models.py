"""ORM models of the work-order store: tickets, their append-only events, departments, users, the working
calendar, call records and query locks. The service-guide catalog lives in :mod:`tickets.catalog.models`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tickets.db import Base, UtcDateTime
from tickets.enums import CallOutcome, Channel, Kind, Role, Status

__all__ = [
    "CalendarDay",
    "CallRecord",
    "Department",
    "QueryGuard",
    "Ticket",
    "TicketEvent",
    "TicketSequence",
    "User",
]


def _enum(cls: type, name: str | None = None) -> Enum:
    # Stored as the enum's value in a VARCHAR with a CHECK, the same on SQLite and PostgreSQL.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        name=name or cls.__name__.lower(),
    )


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    """Agents, supervisors, department staff and admins."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(_enum(Role))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    password_hash: Mapped[str] = mapped_column(String(256))
    extension: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


ticket_assisting = Table(
    "ticket_assisting_departments",
    Base.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("departments.id"), primary_key=True),
)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_caller_open", "caller_phone", "status"),
        Index("ix_tickets_dup", "caller_phone", "category", "created_at"),
        Index("ix_tickets_status_deadline", "status", "deadline"),
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 3", name="satisfaction_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    code_salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    kind: Mapped[Kind] = mapped_column(_enum(Kind))
    category: Mapped[str] = mapped_column(String(64), default="")
    town_code: Mapped[str | None] = mapped_column(String(16))
    village_code: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(256))
    caller_phone: Mapped[str | None] = mapped_column(String(32))
    caller_name: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text, default="")
    transcript: Mapped[str | None] = mapped_column(Text)
    transcript_confidence: Mapped[float | None] = mapped_column(Float)
    recording_ref: Mapped[str | None] = mapped_column(String(256))
    recording_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[Status] = mapped_column(_enum(Status))
    lead_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    owner_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    needs_callback: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline: Mapped[dt.date] = mapped_column(Date)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    probable_duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    reply: Mapped[str | None] = mapped_column(Text)

    lead_department: Mapped[Department | None] = relationship(foreign_keys=[lead_department_id], lazy="joined")
    assisting_departments: Mapped[list[Department]] = relationship(secondary=ticket_assisting, lazy="selectin")


class TicketEvent(Base):
    """Append-only audit trail: every change of a ticket writes one row (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[Status | None] = mapped_column(_enum(Status, "from_status"))
    to_status: Mapped[Status | None] = mapped_column(_enum(Status, "to_status"))
    note: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)


class TicketSequence(Base):
    """The last serial handed out per local day; ticket numbers are YYMMDD + 5-digit serial + check digit."""

    __tablename__ = "ticket_sequences"

    day: Mapped[str] = mapped_column(String(6), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class CalendarDay(Base):
    """An exception to the Monday-Friday week: a holiday (working=False) or an adjusted working weekend."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(64), default="")


class QueryGuard(Base):
    """Wrong extraction codes per ticket and channel; enough of them lock queries for a while."""

    __tablename__ = "query_guards"
    __table_args__ = (UniqueConstraint("ticket_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CallRecord(Base):
    """One hotline call: who (masked), when, the path through the menus and how it ended."""

    __tablename__ = "call_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), unique=True)
    caller_masked: Mapped[str | None] = mapped_column(String(32))
    arrived_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    path: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[CallOutcome] = mapped_column(_enum(CallOutcome))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    worker: Mapped[str | None] = mapped_column(String(32))
