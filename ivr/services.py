"""What the call flow asks of the rest of the product (the ticket store and the guide catalog).

``menus.flow`` depends only on :class:`HotlineServices`; :mod:`ivr.store_services` implements it on the
shared ticket store. Dates are local dates of the district (Asia/Shanghai).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tickets.enums import CallOutcome, Kind, Status

__all__ = [
    "CallRecordData",
    "GuideFacts",
    "HotlineServices",
    "QueryLocked",
    "Registered",
    "ServiceError",
    "TicketNotFound",
    "TicketSummary",
    "WrongCode",
]


class ServiceError(Exception):
    """Root of the errors the flow handles by telling the caller."""


class TicketNotFound(ServiceError):
    pass


class WrongCode(ServiceError):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong extraction code, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class QueryLocked(ServiceError):
    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"phone queries locked until {until.isoformat()}")
        self.until = until


@dataclasses.dataclass(frozen=True, slots=True)
class TicketSummary:
    number: str
    kind: Kind
    status: Status
    created_on: dt.date
    department: str | None
    dispatched_on: dt.date | None
    deadline: dt.date | None
    resolved_on: dt.date | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Registered:
    number: str
    extraction_code: str


@dataclasses.dataclass(frozen=True, slots=True)
class GuideFacts:
    code: str
    name: str
    materials: tuple[str, ...]
    place: str
    hours: str
    trips: int
    promised_days: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class CallRecordData:
    call_id: str
    caller: str | None
    arrived_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime
    path: tuple[str, ...]
    outcome: CallOutcome
    ticket_number: str | None = None
    worker: str | None = None


class HotlineServices(Protocol):
    async def open_tickets_for_caller(self, phone: str) -> Sequence[TicketSummary]:
        """Open tickets of this calling number, newest first (only called for a trusted caller ID)."""

    async def query_ticket(self, number: str, extraction_code: str) -> TicketSummary:
        """Raises TicketNotFound, WrongCode or QueryLocked."""

    async def register_ticket(
        self,
        *,
        call_id: str,
        kind: Kind,
        town_code: str | None,
        caller_phone: str | None,
        recording: Path | None,
        recording_s: float,
        needs_callback: bool,
        escalated: bool = False,
        note: str = "",
    ) -> Registered:
        """Commit a ticket (channel hotline) and return its number and extraction code."""

    async def top_guides(self, limit: int) -> Sequence[GuideFacts]:
        """The most asked-for service items, in key order."""

    async def save_call_record(self, record: CallRecordData) -> None:
        """Write the call record (masked caller) to the store."""
