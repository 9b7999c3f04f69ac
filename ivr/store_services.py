"""The hotline's services (:class:`ivr.services.HotlineServices`) on the shared ticket store and guide catalog."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from ivr.services import (
    CallRecordData,
    GuideFacts,
    QueryLocked,
    Registered,
    TicketNotFound,
    TicketSummary,
    WrongCode,
)
from tickets.enums import Channel, Kind
from tickets.errors import QueryLockedError, WrongExtractionCode
from tickets.errors import TicketNotFound as StoreTicketNotFound
from tickets.numbers import parse_ticket_number
from tickets.store import Store
from tickets.views import Actor, NewTicket, PublicProgress, TicketView

__all__ = ["StoreServices"]

log = logging.getLogger(__name__)
HOTLINE = Actor("hotline")


class StoreServices:
    def __init__(self, store: Store, *, recordings_dir: Path, worker: str | None = None,
                 guides_cache_s: float = 60.0) -> None:
        self._store = store
        self._recordings_dir = recordings_dir
        self._worker = worker
        self._guides_cache_s = guides_cache_s
        self._guides: tuple[float, int, tuple[GuideFacts, ...]] | None = None

    def _summary(self, view: TicketView | PublicProgress) -> TicketSummary:
        tickets = self._store.tickets
        return TicketSummary(
            number=view.number, kind=view.kind, status=view.status,
            created_on=tickets.local_date(view.created_at),
            department=view.lead_department if isinstance(view, TicketView) else view.department,
            dispatched_on=tickets.local_date(view.dispatched_at) if view.dispatched_at else None,
            deadline=view.deadline,
            resolved_on=tickets.local_date(view.resolved_at) if view.resolved_at else None,
        )

    async def open_tickets_for_caller(self, phone: str) -> Sequence[TicketSummary]:
        return [self._summary(v) for v in await self._store.tickets.open_for_phone(phone)]

    async def query_ticket(self, number: str, extraction_code: str) -> TicketSummary:
        try:
            number = parse_ticket_number(number)
        except ValueError as exc:
            raise TicketNotFound(str(exc)) from exc
        try:
            progress = await self._store.tickets.query_progress(number, extraction_code, Channel.HOTLINE)
        except StoreTicketNotFound as exc:
            raise TicketNotFound(str(exc)) from exc
        except WrongExtractionCode as exc:
            raise WrongCode(exc.attempts_left) from exc
        except QueryLockedError as exc:
            raise QueryLocked(exc.until) from exc
        return self._summary(progress)

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
        ref = None
        if recording is not None:
            try:
                ref = str(recording.resolve().relative_to(self._recordings_dir.resolve()))
            except ValueError:
                ref = str(recording)
        created = await self._store.tickets.create(
            NewTicket(
                channel=Channel.HOTLINE, kind=kind, town_code=town_code, caller_phone=caller_phone,
                content=note, recording_ref=ref, recording_s=recording_s, needs_callback=needs_callback,
                escalated=escalated, escalation_reason=note if escalated else None,
                category="来电回拨" if needs_callback and not recording else "",
            ),
            Actor(f"hotline:{call_id}"),
        )
        log.info("call %s: ticket %s registered (%s)", call_id, created.ticket.number, kind.value)
        return Registered(created.ticket.number, created.extraction_code)

    async def top_guides(self, limit: int) -> Sequence[GuideFacts]:
        """The most asked-for guides, kept for ``guides_cache_s``: every caller pressing the guides key would
        otherwise read the catalog again."""
        now = time.monotonic()
        if self._guides is not None and self._guides[1] == limit and now - self._guides[0] < self._guides_cache_s:
            return self._guides[2]
        facts = []
        for item in await self._store.catalog.top(limit):
            facts.append(GuideFacts(
                code=item.basic_code, name=item.name,
                materials=tuple(f"{m.name}（{m.form.value}）" for m in item.materials),
                place=item.place, hours=item.hours, trips=item.trips,
                promised_days=item.promised_limit_days,
            ))
        self._guides = (now, limit, tuple(facts))
        return self._guides[2]

    async def save_call_record(self, record: CallRecordData) -> None:
        await self._store.save_call_record(
            call_id=record.call_id, caller=record.caller, arrived_at=record.arrived_at,
            answered_at=record.answered_at, ended_at=record.ended_at, path=record.path, outcome=record.outcome,
            ticket_number=record.ticket_number, worker=record.worker or self._worker,
        )
