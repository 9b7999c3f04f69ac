"""The work-order lifecycle: every change of a ticket goes through :class:`TicketService`, which refuses an
illegal move with an error naming both states and writes one append-only event per change."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets.config import TicketSettings
from tickets.enums import Channel, Status
from tickets.errors import (
    ClaimConflict,
    DeadlineError,
    IllegalTransition,
    NotFound,
    QueryLockedError,
    StoreError,
    TicketNotFound,
    WrongExtractionCode,
)
from tickets.models import CalendarDay, Department, QueryGuard, Ticket, TicketEvent, TicketSequence
from tickets.numbers import (
    MAX_SERIAL,
    check_extraction_code,
    format_ticket_number,
    hash_extraction_code,
    mask_phone,
    new_extraction_code,
)
from tickets.views import Actor, Created, EventView, NewTicket, PublicProgress, TicketView
from tickets.workdays import WorkCalendar

__all__ = ["TRANSITIONS", "TicketService"]

log = logging.getLogger(__name__)

S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.REGISTERED: frozenset({S.DISPATCHED, S.RESOLVED, S.MERGED, S.CLOSED}),
    S.DISPATCHED: frozenset({S.IN_PROGRESS, S.RETURNED, S.EXTENDED, S.RESOLVED, S.MERGED}),
    S.IN_PROGRESS: frozenset({S.EXTENDED, S.RETURNED, S.RESOLVED, S.MERGED}),
    S.RETURNED: frozenset({S.DISPATCHED, S.RESOLVED, S.MERGED, S.CLOSED}),
    S.EXTENDED: frozenset({S.IN_PROGRESS, S.RETURNED, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CALLED_BACK, S.REOPENED, S.CLOSED}),
    S.REOPENED: frozenset({S.DISPATCHED, S.IN_PROGRESS, S.EXTENDED, S.RESOLVED}),
    S.CALLED_BACK: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.MERGED: frozenset(),
}

SATISFIED, BASICALLY_SATISFIED, UNSATISFIED = 1, 2, 3


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TicketService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: TicketSettings,
        *,
        readers: async_sessionmaker[AsyncSession] | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._readers = readers or sessions
        self._settings = settings
        self._tz = zoneinfo.ZoneInfo(settings.timezone)
        self._clock = clock
        self._calendar: WorkCalendar | None = None

    # ----------------------------------------------------------------- helpers
    def local_date(self, when: dt.datetime) -> dt.date:
        return when.astimezone(self._tz).date()

    async def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            async with self._readers() as session:
                rows = (await session.execute(select(CalendarDay.day, CalendarDay.working))).all()
            self._calendar = WorkCalendar({day: working for day, working in rows})
        return self._calendar

    async def load_calendar(self, days: Iterable[tuple[dt.date, bool, str]]) -> int:
        """Replace or add calendar exceptions: ``(day, working, note)``; returns how many were written."""
        count = 0
        async with self._sessions.begin() as session:
            for day, working, note in days:
                await session.merge(CalendarDay(day=day, working=working, note=note))
                count += 1
        self._calendar = None
        return count

    @staticmethod
    def _event(ticket: Ticket, at: dt.datetime, actor: Actor, action: str, *, from_status: Status | None,
               to_status: Status | None, note: str = "", public: bool) -> TicketEvent:
        return TicketEvent(ticket_id=ticket.id, at=at, actor=actor.label, actor_id=actor.user_id, action=action,
                           from_status=from_status, to_status=to_status, note=note, public=public)

    async def _next_serial(self, session: AsyncSession, day: str) -> int:
        dialect = session.bind.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(TicketSequence).values(day=day, last=1)
        stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"last": TicketSequence.last + 1})
        serial = (await session.execute(stmt.returning(TicketSequence.last))).scalar_one()
        if serial > MAX_SERIAL:
            raise StoreError(f"more than {MAX_SERIAL} tickets on {day}")
        return int(serial)

    async def _load(self, session: AsyncSession, number: str, *, lock: bool = False) -> Ticket:
        stmt = select(Ticket).where(Ticket.number == number)
        if lock:
            stmt = stmt.with_for_update(of=Ticket)
        ticket = (await session.execute(stmt)).unique().scalar_one_or_none()
        if ticket is None:
            raise TicketNotFound(number)
        return ticket

    async def _number_of(self, session: AsyncSession, ticket_id: int | None) -> str | None:
        if ticket_id is None:
            return None
        return (await session.execute(select(Ticket.number).where(Ticket.id == ticket_id))).scalar_one_or_none()

    async def _view(self, session: AsyncSession, t: Ticket) -> TicketView:
        return TicketView(
            number=t.number, channel=t.channel, kind=t.kind, category=t.category, status=t.status,
            content=t.content, town_code=t.town_code, village_code=t.village_code, address=t.address,
            caller_masked=mask_phone(t.caller_phone), transcript=t.transcript,
            transcript_confidence=t.transcript_confidence, recording_ref=t.recording_ref,
            lead_department=t.lead_department.name if t.lead_department else None,
            lead_department_code=t.lead_department.code if t.lead_department else None,
            assisting_departments=tuple(d.name for d in t.assisting_departments),
            owner_agent_id=t.owner_agent_id, escalated=t.escalated, escalation_reason=t.escalation_reason,
            needs_callback=t.needs_callback, deadline=t.deadline, satisfaction=t.satisfaction,
            created_at=t.created_at, updated_at=t.updated_at, dispatched_at=t.dispatched_at,
            resolved_at=t.resolved_at, reply=t.reply,
            merged_into=await self._number_of(session, t.merged_into_id),
            probable_duplicate_of=await self._number_of(session, t.probable_duplicate_of_id),
        )

    # ----------------------------------------------------------------- intake
    async def create(self, new: NewTicket, actor: Actor) -> Created:
        """Register a ticket; it is committed when this returns, with its one-time extraction code."""
        now = self._clock()
        today = self.local_date(now)
        calendar = await self.calendar()
        code = new_extraction_code()
        salt, code_hash = hash_extraction_code(code)
        async with self._sessions.begin() as session:
            serial = await self._next_serial(session, f"{today:%y%m%d}")
            ticket = Ticket(
                number=format_ticket_number(today, serial), code_salt=salt, code_hash=code_hash,
                channel=new.channel, kind=new.kind, category=new.category, town_code=new.town_code,
                village_code=new.village_code, address=new.address, caller_phone=new.caller_phone,
                caller_name=new.caller_name, content=new.content, transcript=new.transcript,
                transcript_confidence=new.transcript_confidence, recording_ref=new.recording_ref,
                recording_s=new.recording_s, status=Status.REGISTERED, escalated=new.escalated,
                escalation_reason=new.escalation_reason, needs_callback=new.needs_callback,
                deadline=calendar.add_working_days(today, new.kind.time_limit_working_days),
                created_at=now, updated_at=now,
            )
            ticket.probable_duplicate_of_id = await self._find_duplicate(session, new, now)
            session.add(ticket)
            await session.flush()
            session.add(self._event(ticket, now, actor, "created", from_status=None, to_status=Status.REGISTERED,
                                    note=f"{new.channel.value} {new.kind.label_zh}", public=True))
            await session.flush()
            await session.refresh(ticket, ["lead_department", "assisting_departments"])
            view = await self._view(session, ticket)
        log.info("ticket %s created via %s for %s", view.number, new.channel.value, view.caller_masked)
        return Created(ticket=view, extraction_code=code)

    async def _find_duplicate(self, session: AsyncSession, new: NewTicket, now: dt.datetime) -> int | None:
        if not new.caller_phone:
            return None
        since = now - dt.timedelta(hours=self._settings.duplicate_window_h)
        stmt = (
            select(Ticket.id)
            .where(Ticket.caller_phone == new.caller_phone, Ticket.category == new.category,
                   Ticket.created_at >= since, Ticket.status.not_in([Status.MERGED, Status.CLOSED]))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(1)
        )
        return (await session.execute(stmt)).scalar_one_or_none()

    # ----------------------------------------------------------------- reads
    async def get(self, number: str) -> TicketView:
        async with self._readers() as session:
            return await self._view(session, await self._load(session, number))

    async def events(self, number: str, *, public_only: bool = False) -> list[EventView]:
        async with self._readers() as session:
            ticket = await self._load(session, number)
            return await self._events(session, ticket.id, public_only)

    @staticmethod
    async def _events(session: AsyncSession, ticket_id: int, public_only: bool) -> list[EventView]:
        stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        if public_only:
            stmt = stmt.where(TicketEvent.public.is_(True))
        return [
            EventView(at=e.at, actor=e.actor, action=e.action, from_status=e.from_status, to_status=e.to_status,
                      note=e.note, public=e.public)
            for e in (await session.execute(stmt)).scalars()
        ]

    async def open_for_phone(self, phone: str) -> list[TicketView]:
        """Open tickets of a calling number, newest first."""
        async with self._readers() as session:
            stmt = (
                select(Ticket)
                .where(Ticket.caller_phone == phone, Ticket.status.not_in([S.CLOSED, S.MERGED, S.CALLED_BACK]))
                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                .limit(20)
            )
            tickets = (await session.execute(stmt)).unique().scalars().all()
            return [await self._view(session, t) for t in tickets]

    async def list(self, *, status: Sequence[Status] = (), department_code: str | None = None,
                   overdue_on: dt.date | None = None, limit: int = 50, offset: int = 0) -> list[TicketView]:
        async with self._readers() as session:
            stmt = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit).offset(offset)
            if status:
                stmt = stmt.where(Ticket.status.in_(list(status)))
            if department_code:
                stmt = stmt.join(Department, Ticket.lead_department_id == Department.id).where(
                    Department.code == department_code)
            if overdue_on:
                stmt = stmt.where(Ticket.deadline < overdue_on,
                                  Ticket.status.not_in([S.RESOLVED, S.CALLED_BACK, S.CLOSED, S.MERGED]))
            tickets = (await session.execute(stmt)).unique().scalars().all()
            return [await self._view(session, t) for t in tickets]

    async def query_progress(self, number: str, code: str, channel: Channel) -> PublicProgress:
        """The public progress of a ticket, given its extraction code. Wrong codes are counted per ticket and
        channel; ``query_max_failures`` of them lock that channel's queries for ``query_lock_minutes``."""
        now = self._clock()
        async with self._sessions.begin() as session:
            ticket = await self._load(session, number)
            guard = (await session.execute(
                select(QueryGuard).where(QueryGuard.ticket_id == ticket.id, QueryGuard.channel == channel)
                .with_for_update())).scalar_one_or_none()
            if guard is not None and guard.locked_until is not None:
                if guard.locked_until > now:
                    raise QueryLockedError(guard.locked_until)
                guard.locked_until = None
                guard.failures = 0
            if not check_extraction_code(code, ticket.code_salt, ticket.code_hash):
                if guard is None:
                    guard = QueryGuard(ticket_id=ticket.id, channel=channel, failures=0)
                    session.add(guard)
                guard.failures += 1
                left = self._settings.query_max_failures - guard.failures
                if left <= 0:
                    guard.locked_until = now + dt.timedelta(minutes=self._settings.query_lock_minutes)
                    log.warning("ticket %s: %s queries locked after %d wrong codes", number, channel.value,
                                guard.failures)
                wrong = WrongExtractionCode(max(left, 0))
            else:
                wrong = None
                if guard is not None:
                    guard.failures = 0
                department = ticket.lead_department.name if ticket.lead_department else None
                progress = PublicProgress(
                    number=ticket.number, kind=ticket.kind, status=ticket.status, department=department,
                    created_at=ticket.created_at, dispatched_at=ticket.dispatched_at, deadline=ticket.deadline,
                    resolved_at=ticket.resolved_at, reply=ticket.reply,
                    timeline=tuple(await self._events(session, ticket.id, True)),
                )
        if wrong is not None:
            raise wrong
        return progress

    async def public_progress_for_caller(self, number: str, phone: str) -> PublicProgress:
        """Progress for the caller whose trusted number matches the ticket's (no extraction code needed)."""
        async with self._readers() as session:
            ticket = await self._load(session, number)
            if not phone or ticket.caller_phone != phone:
                raise TicketNotFound(number)
            return PublicProgress(
                number=ticket.number, kind=ticket.kind, status=ticket.status,
                department=ticket.lead_department.name if ticket.lead_department else None,
                created_at=ticket.created_at, dispatched_at=ticket.dispatched_at, deadline=ticket.deadline,
                resolved_at=ticket.resolved_at, reply=ticket.reply,
                timeline=tuple(await self._events(session, ticket.id, True)),
            )

    # ----------------------------------------------------------------- lifecycle
    async def _move(self, number: str, target: Status, actor: Actor, *, note: str, public: bool,
                    action: str = "transition", mutate: Callable[[AsyncSession, Ticket, dt.datetime], object]
                    | None = None) -> TicketView:
        """The one place a ticket changes status."""
        now = self._clock()
        async with self._sessions.begin() as session:
            ticket = await self._load(session, number, lock=True)
            current = ticket.status
            if target not in TRANSITIONS[current]:
                raise IllegalTransition(current, target)
            if mutate is not None:
                result = mutate(session, ticket, now)
                if hasattr(result, "__await__"):
                    await result  # type: ignore[misc]  # mutate may be a coroutine function
            ticket.status = target
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, action, from_status=current, to_status=target, note=note,
                                    public=public))
            await session.flush()
            view = await self._view(session, ticket)
        log.info("ticket %s: %s -> %s by %s", number, current.value, target.value, actor.label)
        return view

    async def _department(self, session: AsyncSession, code: str) -> Department:
        dept = (await session.execute(select(Department).where(Department.code == code))).scalar_one_or_none()
        if dept is None:
            raise NotFound(f"no department {code}")
        return dept

    async def dispatch(self, number: str, lead: str, actor: Actor, *, assisting: Sequence[str] = (),
                       note: str = "") -> TicketView:
        """派单/改派: send to a lead department (and assisting ones)."""
        async def mutate(session: AsyncSession, ticket: Ticket, now: dt.datetime) -> None:
            ticket.lead_department = await self._department(session, lead)
            ticket.assisting_departments = [await self._department(session, c) for c in assisting]
            ticket.dispatched_at = now

        return await self._move(number, S.DISPATCHED, actor, note=note or f"派往{lead}", public=True,
                                action="dispatch", mutate=mutate)

    async def start(self, number: str, actor: Actor, note: str = "") -> TicketView:
        return await self._move(number, S.IN_PROGRESS, actor, note=note, public=True, action="start")

    async def return_(self, number: str, actor: Actor, reason: str) -> TicketView:
        """退单: the department sends a wrongly dispatched ticket back, with a reason."""
        if not reason.strip():
            raise StoreError("a returned ticket needs a reason")

        def mutate(_s: AsyncSession, ticket: Ticket, _now: dt.datetime) -> None:
            ticket.lead_department = None
            ticket.assisting_departments = []

        return await self._move(number, S.RETURNED, actor, note=reason, public=False, action="return",
                                mutate=mutate)

    async def extend(self, number: str, actor: Actor, new_deadline: dt.date, reason: str) -> TicketView:
        """延期: asked before the current deadline passes, to a later date."""
        def mutate(_s: AsyncSession, ticket: Ticket, now: dt.datetime) -> None:
            if self.local_date(now) > ticket.deadline:
                raise DeadlineError(f"deadline {ticket.deadline.isoformat()} has passed; extension refused")
            if new_deadline <= ticket.deadline:
                raise DeadlineError(f"new deadline {new_deadline.isoformat()} is not after "
                                    f"{ticket.deadline.isoformat()}")
            ticket.deadline = new_deadline

        return await self._move(number, S.EXTENDED, actor, note=reason, public=True, action="extend",
                                mutate=mutate)

    async def resolve(self, number: str, actor: Actor, reply: str) -> TicketView:
        def mutate(_s: AsyncSession, ticket: Ticket, now: dt.datetime) -> None:
            ticket.reply = reply
            ticket.resolved_at = now

        return await self._move(number, S.RESOLVED, actor, note=reply, public=True, action="resolve",
                                mutate=mutate)

    async def call_back(self, number: str, actor: Actor, satisfaction: int, note: str = "") -> TicketView:
        """回访: satisfied (1) or basically satisfied (2) is called back; unsatisfied (3) reopens handling."""
        if satisfaction not in (SATISFIED, BASICALLY_SATISFIED, UNSATISFIED):
            raise StoreError(f"satisfaction must be 1, 2 or 3, got {satisfaction}")
        target = S.REOPENED if satisfaction == UNSATISFIED else S.CALLED_BACK

        def mutate(_s: AsyncSession, ticket: Ticket, now: dt.datetime) -> None:
            ticket.satisfaction = satisfaction
            if target is S.REOPENED:
                ticket.resolved_at = None

        return await self._move(number, target, actor, note=note, public=True, action="call_back", mutate=mutate)

    async def close(self, number: str, actor: Actor, note: str = "") -> TicketView:
        return await self._move(number, S.CLOSED, actor, note=note, public=True, action="close")

    async def merge(self, number: str, into: str, actor: Actor) -> TicketView:
        """重复诉求并单: merge a repeated request into the ticket that handles it."""
        if number == into:
            raise StoreError("a ticket cannot be merged into itself")

        async def mutate(session: AsyncSession, ticket: Ticket, _now: dt.datetime) -> None:
            target = await self._load(session, into)
            if target.status is S.MERGED:
                raise StoreError(f"ticket {into} is itself merged")
            ticket.merged_into_id = target.id

        return await self._move(number, S.MERGED, actor, note=f"并入{into}", public=True, action="merge",
                                mutate=mutate)

    async def add_note(self, number: str, actor: Actor, note: str, *, public: bool = False) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            ticket = await self._load(session, number)
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, "note", from_status=None, to_status=None, note=note,
                                    public=public))

    async def escalate(self, number: str, actor: Actor, reason: str) -> None:
        """督办: flag a ticket for supervision."""
        now = self._clock()
        async with self._sessions.begin() as session:
            ticket = await self._load(session, number, lock=True)
            ticket.escalated = True
            ticket.escalation_reason = reason
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, "escalate", from_status=None, to_status=None, note=reason,
                                    public=False))

    async def set_transcript(self, number: str, text: str, confidence: float, actor: Actor) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            ticket = await self._load(session, number, lock=True)
            ticket.transcript = text
            ticket.transcript_confidence = confidence
            if not ticket.content:
                ticket.content = text
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, "transcript", from_status=None, to_status=None,
                                    note=f"confidence {confidence:.2f}", public=False))

    # ----------------------------------------------------------------- ownership
    async def claim(self, number: str, actor: Actor) -> TicketView:
        """Take ownership; when two agents claim the same ticket at once exactly one wins, the other gets
        :class:`ClaimConflict`. The winning statement is a single conditional UPDATE."""
        if actor.user_id is None:
            raise StoreError("only a user can claim a ticket")
        now = self._clock()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Ticket)
                .where(Ticket.number == number, Ticket.owner_agent_id.is_(None))
                .values(owner_agent_id=actor.user_id, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                exists = (await session.execute(select(func.count()).select_from(Ticket)
                                                .where(Ticket.number == number))).scalar_one()
                if not exists:
                    raise TicketNotFound(number)
                raise ClaimConflict(f"ticket {number} is already claimed")
            ticket = await self._load(session, number)
            session.add(self._event(ticket, now, actor, "claim", from_status=None, to_status=None,
                                    note=actor.label, public=False))
            await session.flush()
            return await self._view(session, ticket)

    async def release(self, number: str, actor: Actor) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            ticket = await self._load(session, number, lock=True)
            if ticket.owner_agent_id != actor.user_id:
                raise ClaimConflict(f"ticket {number} is not claimed by {actor.label}")
            ticket.owner_agent_id = None
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, "release", from_status=None, to_status=None, note="",
                                    public=False))
