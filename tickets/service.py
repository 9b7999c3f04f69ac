"""The work-order lifecycle: every change of a ticket goes through :class:`TicketService`, which refuses an
illegal move with an error naming both states and writes one append-only event per change."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tickets import reads
from tickets.config import TicketSettings
from tickets.db import Database
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


def _next_serial_stmt(insert: Any) -> Any:
    seq = TicketSequence.__table__
    stmt = insert(seq).values(day=bindparam("day"), last=1)
    return stmt.on_conflict_do_update(index_elements=["day"], set_={"last": seq.c.last + 1}).returning(seq.c.last)


# Statements of the intake path, built once (per dialect where they differ); only parameters change per call.
_NEXT_SERIAL = {"sqlite": _next_serial_stmt(sqlite.insert), "postgresql": _next_serial_stmt(postgresql.insert)}
_T = Ticket.__table__
_DUPLICATE = (
    select(_T.c.id, _T.c.number)
    .where(_T.c.caller_phone == bindparam("phone"), _T.c.category == bindparam("category"),
           _T.c.created_at >= bindparam("since", type_=_T.c.created_at.type),
           _T.c.status.not_in([Status.MERGED, Status.CLOSED]))
    .order_by(_T.c.created_at.desc(), _T.c.id.desc())
    .limit(1)
)
_INSERT_TICKET = insert(_T).returning(_T.c.id)
_INSERT_EVENT = insert(TicketEvent.__table__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TicketService:
    def __init__(
        self,
        db: Database,
        settings: TicketSettings,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._db = db
        self._settings = settings
        self._tz = zoneinfo.ZoneInfo(settings.timezone)
        self._clock = clock
        self._calendar: WorkCalendar | None = None

    # ----------------------------------------------------------------- helpers
    def local_date(self, when: dt.datetime) -> dt.date:
        return when.astimezone(self._tz).date()

    async def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            rows = await self._db.read(lambda conn: conn.execute(select(CalendarDay.day, CalendarDay.working)).all())
            self._calendar = WorkCalendar({day: working for day, working in rows})
        return self._calendar

    async def load_calendar(self, days: Iterable[tuple[dt.date, bool, str]]) -> int:
        """Replace or add calendar exceptions: ``(day, working, note)``; returns how many were written."""
        rows = list(days)

        def tx(session: Session) -> int:
            for day, working, note in rows:
                session.merge(CalendarDay(day=day, working=working, note=note))
            return len(rows)

        count = await self._db.write(tx)
        self._calendar = None
        return count

    @staticmethod
    def _event(ticket: Ticket, at: dt.datetime, actor: Actor, action: str, *, from_status: Status | None,
               to_status: Status | None, note: str = "", public: bool) -> TicketEvent:
        return TicketEvent(ticket_id=ticket.id, at=at, actor=actor.label, actor_id=actor.user_id, action=action,
                           from_status=from_status, to_status=to_status, note=note, public=public)

    @staticmethod
    def _next_serial(session: Session, day: str) -> int:
        stmt = _NEXT_SERIAL[session.get_bind().dialect.name]
        serial = session.execute(stmt, {"day": day}).scalar_one()
        if serial > MAX_SERIAL:
            raise StoreError(f"more than {MAX_SERIAL} tickets on {day}")
        return int(serial)

    @staticmethod
    def _load(session: Session, number: str, *, lock: bool = False) -> Ticket:
        stmt = select(Ticket).where(Ticket.number == number)
        if lock:
            stmt = stmt.with_for_update(of=Ticket)
        ticket = session.execute(stmt).unique().scalar_one_or_none()
        if ticket is None:
            raise TicketNotFound(number)
        return ticket

    @staticmethod
    def _view_of(session: Session, ticket_id: int) -> TicketView:
        session.flush()
        return reads.view_by_id(session, ticket_id)

    # ----------------------------------------------------------------- intake
    async def create(self, new: NewTicket, actor: Actor) -> Created:
        """Register a ticket; it is committed when this returns, with its one-time extraction code."""
        now = self._clock()
        today = self.local_date(now)
        calendar = await self.calendar()
        code = new_extraction_code()
        salt, code_hash = hash_extraction_code(code)
        def tx(session: Session):  # noqa: ANN202  (runs on the store's writer)
            serial = self._next_serial(session, f"{today:%y%m%d}")
            duplicate = self._find_duplicate(session, new, now)
            values: dict[str, Any] = dict(
                number=format_ticket_number(today, serial), code_salt=salt, code_hash=code_hash,
                channel=new.channel, kind=new.kind, category=new.category, town_code=new.town_code,
                village_code=new.village_code, address=new.address, caller_phone=new.caller_phone,
                caller_name=new.caller_name, content=new.content, transcript=new.transcript,
                transcript_confidence=new.transcript_confidence, recording_ref=new.recording_ref,
                recording_s=new.recording_s, status=Status.REGISTERED, escalated=new.escalated,
                escalation_reason=new.escalation_reason, needs_callback=new.needs_callback,
                deadline=calendar.add_working_days(today, new.kind.time_limit_working_days),
                created_at=now, updated_at=now, probable_duplicate_of_id=duplicate[0] if duplicate else None,
            )
            ticket_id = session.execute(_INSERT_TICKET, values).scalar_one()
            session.execute(_INSERT_EVENT, dict(
                ticket_id=ticket_id, at=now, actor=actor.label, actor_id=actor.user_id, action="created",
                from_status=None, to_status=Status.REGISTERED, note=f"{new.channel.value} {new.kind.label_zh}",
                public=True))
            return values, ticket_id, duplicate

        values, ticket_id, duplicate = await self._db.write(tx)
        view = reads.row_view(
            {**values, "id": ticket_id, "lead_name": None, "lead_code": None, "merged_into_id": None,
             "owner_agent_id": None, "satisfaction": None, "dispatched_at": None, "resolved_at": None,
             "reply": None}, (), {duplicate[0]: duplicate[1]} if duplicate else None)
        log.info("ticket %s created via %s for %s", view.number, new.channel.value, view.caller_masked)
        return Created(ticket=view, extraction_code=code)

    def _find_duplicate(self, session: Session, new: NewTicket, now: dt.datetime
                              ) -> tuple[int, str] | None:
        if not new.caller_phone:
            return None
        since = now - dt.timedelta(hours=self._settings.duplicate_window_h)
        row = session.execute(_DUPLICATE, {"phone": new.caller_phone, "category": new.category, "since": since}
                              ).first()
        return (row[0], row[1]) if row else None

    # ----------------------------------------------------------------- reads
    async def get(self, number: str) -> TicketView:
        if self._db.fast is not None:
            view = await reads.view_by_number_fast(self._db.fast, number)
        else:
            view = await self._db.read(lambda conn: reads.view_by_number(conn, number))
        if view is None:
            raise TicketNotFound(number)
        return view

    async def events(self, number: str, *, public_only: bool = False) -> list[EventView]:
        def read(conn: Connection) -> list[EventView]:
            t = Ticket.__table__
            ticket_id = conn.execute(select(t.c.id).where(t.c.number == number)).scalar_one_or_none()
            if ticket_id is None:
                raise TicketNotFound(number)
            return reads.events(conn, ticket_id, public_only)

        return await self._db.read(read)

    async def open_for_phone(self, phone: str) -> list[TicketView]:
        """Open tickets of a calling number, newest first."""
        t = Ticket.__table__
        return await self._db.read(lambda conn: reads.views(
            conn, t.c.caller_phone == phone, t.c.status.not_in([S.CLOSED, S.MERGED, S.CALLED_BACK]),
            order_newest=True, limit=20))

    async def list(self, *, status: Sequence[Status] = (), department_code: str | None = None,
                   overdue_on: dt.date | None = None, limit: int = 50, offset: int = 0) -> list[TicketView]:
        t = Ticket.__table__
        where: list[Any] = []
        if status:
            where.append(t.c.status.in_(list(status)))
        if department_code:
            where.append(reads.LEAD.c.code == department_code)
        if overdue_on:
            where += [t.c.deadline < overdue_on, t.c.status.not_in([S.RESOLVED, S.CALLED_BACK, S.CLOSED, S.MERGED])]
        return await self._db.read(
            lambda conn: reads.views(conn, *where, order_newest=True, limit=limit, offset=offset))

    async def query_progress(self, number: str, code: str, channel: Channel) -> PublicProgress:
        """The public progress of a ticket, given its extraction code. Wrong codes are counted per ticket and
        channel; ``query_max_failures`` of them lock that channel's queries for ``query_lock_minutes``.

        A right code on an unlocked ticket is answered from the reader alone; only wrong codes (and the reset
        after a lock expires) take a write transaction, where the guard row is re-read under the lock."""
        now = self._clock()
        params = {"number": number, "channel": channel.value}

        def check(row: Any) -> tuple[int, bool, bool]:
            """(ticket id, code right, answerable from the reader without touching the guard)."""
            if row is None:
                raise TicketNotFound(number)
            ticket_id, salt, code_hash, failures, locked_until = row
            if locked_until is not None and locked_until > now:
                raise QueryLockedError(locked_until)
            right = check_extraction_code(code, salt, code_hash)
            return ticket_id, right, right and not failures and locked_until is None

        if self._db.fast is not None:
            async with self._db.fast.connection() as fast:
                ticket_id, right, clean = check(await fast.fetchrow(reads.GUARDED_CODE, params))
                if clean:
                    return await reads.progress_fast(fast, ticket_id)
        else:
            def read(conn: Connection) -> tuple[int, bool, PublicProgress | None]:
                ticket_id, right, clean = check(conn.execute(reads.GUARDED_CODE, params).first())
                return ticket_id, right, reads.progress(conn, ticket_id) if clean else None

            ticket_id, right, progress = await self._db.read(read)
            if progress is not None:
                return progress

        def tx(session: Session) -> PublicProgress | int:
            guard = (session.execute(
                select(QueryGuard).where(QueryGuard.ticket_id == ticket_id, QueryGuard.channel == channel)
                .with_for_update())).scalar_one_or_none()
            if guard is None:
                guard = QueryGuard(ticket_id=ticket_id, channel=channel, failures=0)
                session.add(guard)
            if guard.locked_until is not None:
                if guard.locked_until > now:
                    raise QueryLockedError(guard.locked_until)
                guard.locked_until = None
                guard.failures = 0
            if right:
                guard.failures = 0
                session.flush()
                return reads.progress(session, ticket_id)
            guard.failures += 1
            left = self._settings.query_max_failures - guard.failures
            if left <= 0:
                guard.locked_until = now + dt.timedelta(minutes=self._settings.query_lock_minutes)
                log.warning("ticket %s: %s queries locked after %d wrong codes", number, channel.value, guard.failures)
            return max(left, 0)

        result = await self._db.write(tx)
        if isinstance(result, int):
            raise WrongExtractionCode(result)
        return result

    async def public_progress_for_caller(self, number: str, phone: str) -> PublicProgress:
        """Progress for the caller whose trusted number matches the ticket's (no extraction code needed)."""
        t = Ticket.__table__

        def read(conn: Connection) -> PublicProgress:
            ticket_id = conn.execute(select(t.c.id).where(t.c.number == number, t.c.caller_phone == phone)
                                     ).scalar_one_or_none() if phone else None
            if ticket_id is None:
                raise TicketNotFound(number)
            return reads.progress(conn, ticket_id)

        return await self._db.read(read)

    # ----------------------------------------------------------------- lifecycle
    async def _move(self, number: str, target: Status, actor: Actor, *, note: str, public: bool,
                    action: str = "transition", mutate: Callable[[Session, Ticket, dt.datetime], None]
                    | None = None) -> TicketView:
        """The one place a ticket changes status: checks the move against :data:`TRANSITIONS` under a row lock,
        applies ``mutate`` and writes the event, in one transaction."""
        now = self._clock()

        def tx(session: Session) -> tuple[Status, TicketView]:
            ticket = self._load(session, number, lock=True)
            current = ticket.status
            if target not in TRANSITIONS[current]:
                raise IllegalTransition(current, target)
            if mutate is not None:
                mutate(session, ticket, now)
            ticket.status = target
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, action, from_status=current, to_status=target, note=note,
                                    public=public))
            return current, self._view_of(session, ticket.id)

        current, view = await self._db.write(tx)
        log.info("ticket %s: %s -> %s by %s", number, current.value, target.value, actor.label)
        return view

    @staticmethod
    def _department(session: Session, code: str) -> Department:
        dept = session.execute(select(Department).where(Department.code == code)).scalar_one_or_none()
        if dept is None:
            raise NotFound(f"no department {code}")
        return dept

    async def dispatch(self, number: str, lead: str, actor: Actor, *, assisting: Sequence[str] = (),
                       note: str = "") -> TicketView:
        """派单/改派: send to a lead department (and assisting ones)."""
        def mutate(session: Session, ticket: Ticket, now: dt.datetime) -> None:
            ticket.lead_department = self._department(session, lead)
            ticket.assisting_departments = [self._department(session, c) for c in assisting]
            ticket.dispatched_at = now

        return await self._move(number, S.DISPATCHED, actor, note=note or f"派往{lead}", public=True,
                                action="dispatch", mutate=mutate)

    async def start(self, number: str, actor: Actor, note: str = "") -> TicketView:
        return await self._move(number, S.IN_PROGRESS, actor, note=note, public=True, action="start")

    async def return_(self, number: str, actor: Actor, reason: str) -> TicketView:
        """退单: the department sends a wrongly dispatched ticket back, with a reason."""
        if not reason.strip():
            raise StoreError("a returned ticket needs a reason")

        def mutate(_s: Session, ticket: Ticket, _now: dt.datetime) -> None:
            ticket.lead_department = None
            ticket.assisting_departments = []

        return await self._move(number, S.RETURNED, actor, note=reason, public=False, action="return",
                                mutate=mutate)

    async def extend(self, number: str, actor: Actor, new_deadline: dt.date, reason: str) -> TicketView:
        """延期: asked before the current deadline passes, to a later date."""
        def mutate(_s: Session, ticket: Ticket, now: dt.datetime) -> None:
            if self.local_date(now) > ticket.deadline:
                raise DeadlineError(f"deadline {ticket.deadline.isoformat()} has passed; extension refused")
            if new_deadline <= ticket.deadline:
                raise DeadlineError(f"new deadline {new_deadline.isoformat()} is not after "
                                    f"{ticket.deadline.isoformat()}")
            ticket.deadline = new_deadline

        return await self._move(number, S.EXTENDED, actor, note=reason, public=True, action="extend",
                                mutate=mutate)

    async def resolve(self, number: str, actor: Actor, reply: str) -> TicketView:
        def mutate(_s: Session, ticket: Ticket, now: dt.datetime) -> None:
            ticket.reply = reply
            ticket.resolved_at = now

        return await self._move(number, S.RESOLVED, actor, note=reply, public=True, action="resolve",
                                mutate=mutate)

    async def call_back(self, number: str, actor: Actor, satisfaction: int, note: str = "") -> TicketView:
        """回访: satisfied (1) or basically satisfied (2) is called back; unsatisfied (3) reopens handling."""
        if satisfaction not in (SATISFIED, BASICALLY_SATISFIED, UNSATISFIED):
            raise StoreError(f"satisfaction must be 1, 2 or 3, got {satisfaction}")
        target = S.REOPENED if satisfaction == UNSATISFIED else S.CALLED_BACK

        def mutate(_s: Session, ticket: Ticket, now: dt.datetime) -> None:
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

        def mutate(session: Session, ticket: Ticket, _now: dt.datetime) -> None:
            target = self._load(session, into)
            if target.status is S.MERGED:
                raise StoreError(f"ticket {into} is itself merged")
            ticket.merged_into_id = target.id

        return await self._move(number, S.MERGED, actor, note=f"并入{into}", public=True, action="merge",
                                mutate=mutate)

    async def add_note(self, number: str, actor: Actor, note: str, *, public: bool = False) -> None:
        now = self._clock()

        def tx(session: Session) -> Any:
            ticket = self._load(session, number)
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, "note", from_status=None, to_status=None, note=note,
                                    public=public))

        return await self._db.write(tx)

    async def escalate(self, number: str, actor: Actor, reason: str) -> None:
        """督办: flag a ticket for supervision."""
        now = self._clock()

        def tx(session: Session) -> Any:
            ticket = self._load(session, number, lock=True)
            ticket.escalated = True
            ticket.escalation_reason = reason
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, "escalate", from_status=None, to_status=None, note=reason,
                                    public=False))

        return await self._db.write(tx)

    async def set_transcript(self, number: str, text: str, confidence: float, actor: Actor) -> None:
        now = self._clock()

        def tx(session: Session) -> Any:
            ticket = self._load(session, number, lock=True)
            ticket.transcript = text
            ticket.transcript_confidence = confidence
            if not ticket.content:
                ticket.content = text
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, "transcript", from_status=None, to_status=None,
                                    note=f"confidence {confidence:.2f}", public=False))

        return await self._db.write(tx)

    # ----------------------------------------------------------------- ownership
    async def claim(self, number: str, actor: Actor) -> TicketView:
        """Take ownership; when two agents claim the same ticket at once exactly one wins, the other gets
        :class:`ClaimConflict`. The winning statement is a single conditional UPDATE."""
        if actor.user_id is None:
            raise StoreError("only a user can claim a ticket")
        now = self._clock()

        def tx(session: Session) -> Any:
            result = session.execute(
                update(Ticket)
                .where(Ticket.number == number, Ticket.owner_agent_id.is_(None))
                .values(owner_agent_id=actor.user_id, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                exists = (session.execute(select(func.count()).select_from(Ticket)
                                                .where(Ticket.number == number))).scalar_one()
                if not exists:
                    raise TicketNotFound(number)
                raise ClaimConflict(f"ticket {number} is already claimed")
            ticket = self._load(session, number)
            session.add(self._event(ticket, now, actor, "claim", from_status=None, to_status=None,
                                    note=actor.label, public=False))
            return self._view_of(session, ticket.id)

        return await self._db.write(tx)

    async def release(self, number: str, actor: Actor) -> None:
        now = self._clock()

        def tx(session: Session) -> Any:
            ticket = self._load(session, number, lock=True)
            if ticket.owner_agent_id != actor.user_id:
                raise ClaimConflict(f"ticket {number} is not claimed by {actor.label}")
            ticket.owner_agent_id = None
            ticket.updated_at = now
            session.add(self._event(ticket, now, actor, "release", from_status=None, to_status=None, note="",
                                    public=False))

        return await self._db.write(tx)
