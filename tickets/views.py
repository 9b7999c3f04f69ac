"""What the store hands out: frozen snapshots, never ORM objects."""

from __future__ import annotations

import dataclasses
import datetime as dt

from tickets.enums import Channel, Kind, Status

__all__ = ["Actor", "Created", "EventView", "NewTicket", "PublicProgress", "TicketView"]


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a user, or a channel acting for a resident (``hotline``, ``stb:<id>``)."""

    label: str
    user_id: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewTicket:
    channel: Channel
    kind: Kind
    content: str = ""
    category: str = ""
    town_code: str | None = None
    village_code: str | None = None
    address: str | None = None
    caller_phone: str | None = None
    caller_name: str | None = None
    transcript: str | None = None
    transcript_confidence: float | None = None
    recording_ref: str | None = None
    recording_s: float | None = None
    needs_callback: bool = False
    escalated: bool = False
    escalation_reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class EventView:
    at: dt.datetime
    actor: str
    action: str
    from_status: Status | None
    to_status: Status | None
    note: str
    public: bool


@dataclasses.dataclass(frozen=True, slots=True)
class TicketView:
    """The full ticket for staff; the caller's phone is masked here too."""

    number: str
    channel: Channel
    kind: Kind
    category: str
    status: Status
    content: str
    town_code: str | None
    village_code: str | None
    address: str | None
    caller_masked: str | None
    transcript: str | None
    transcript_confidence: float | None
    recording_ref: str | None
    lead_department: str | None
    lead_department_code: str | None
    assisting_departments: tuple[str, ...]
    owner_agent_id: int | None
    escalated: bool
    escalation_reason: str | None
    needs_callback: bool
    deadline: dt.date
    satisfaction: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    dispatched_at: dt.datetime | None
    resolved_at: dt.datetime | None
    reply: str | None
    merged_into: str | None
    probable_duplicate_of: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Created:
    ticket: TicketView
    extraction_code: str


@dataclasses.dataclass(frozen=True, slots=True)
class PublicProgress:
    """What a resident may see with the extraction code: no phone, transcript or internal notes."""

    number: str
    kind: Kind
    status: Status
    department: str | None
    created_at: dt.datetime
    dispatched_at: dt.datetime | None
    deadline: dt.date
    resolved_at: dt.datetime | None
    reply: str | None
    timeline: tuple[EventView, ...]
