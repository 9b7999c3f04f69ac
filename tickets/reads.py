"""Synchronous read queries on a Connection (or Session), shared by the reader and by write transactions.

Reads are plain Core statements turned into frozen views: no ORM entity loading on the look-up path. On
SQLite they run on the store's reader thread pool (one thread hop per look-up instead of one per statement);
on PostgreSQL through ``AsyncConnection.run_sync``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tickets.enums import Channel, Kind, Status
from tickets.models import Department, QueryGuard, Ticket, TicketEvent, ticket_assisting
from tickets.fastpg import FastConnection, FastReads
from tickets.numbers import mask_phone
from tickets.views import EventView, PublicProgress, TicketView

__all__ = [
    "GUARDED_CODE", "LEAD", "events", "progress", "progress_fast", "row_view", "view_by_id", "view_by_number",
    "view_by_number_fast", "views",
]

LEAD = Department.__table__.alias("lead")


def row_view(r: Any, assisting: tuple[str, ...], numbers: Mapping[int, str] | None = None) -> TicketView:
    """A view from a ticket row with its lead department; ``numbers`` maps the ids of merged-into and
    duplicate-of tickets to their numbers (looked up only when a row has them)."""
    numbers = numbers or {}
    return TicketView(
        number=r["number"], channel=Channel(r["channel"]), kind=Kind(r["kind"]), category=r["category"],
        status=Status(r["status"]),
        content=r["content"], town_code=r["town_code"], village_code=r["village_code"], address=r["address"],
        caller_masked=mask_phone(r["caller_phone"]), transcript=r["transcript"],
        transcript_confidence=r["transcript_confidence"], recording_ref=r["recording_ref"],
        lead_department=r["lead_name"], lead_department_code=r["lead_code"], assisting_departments=assisting,
        owner_agent_id=r["owner_agent_id"], escalated=r["escalated"], escalation_reason=r["escalation_reason"],
        needs_callback=r["needs_callback"], deadline=r["deadline"], satisfaction=r["satisfaction"],
        created_at=r["created_at"], updated_at=r["updated_at"], dispatched_at=r["dispatched_at"],
        resolved_at=r["resolved_at"], reply=r["reply"], merged_into=numbers.get(r["merged_into_id"]),
        probable_duplicate_of=numbers.get(r["probable_duplicate_of_id"]),
    )


_NUMBERS = select(Ticket.__table__.c.id, Ticket.__table__.c.number).where(
    Ticket.__table__.c.id.in_(bindparam("ids", expanding=True)))


def _linked_numbers(conn: Connection | Session, rows: Sequence[Any]) -> dict[int, str]:
    """Numbers of the tickets these rows were merged into or duplicate: one query, and only when needed."""
    ids = {r[k] for r in rows for k in ("merged_into_id", "probable_duplicate_of_id") if r[k] is not None}
    if not ids:
        return {}
    return {i: n for i, n in conn.execute(_NUMBERS, {"ids": sorted(ids)})}



def _base() -> Any:
    t = Ticket.__table__
    return (
        select(t, LEAD.c.name.label("lead_name"), LEAD.c.code.label("lead_code"))
        .select_from(t.outerjoin(LEAD, LEAD.c.id == t.c.lead_department_id))
    )


# Statements for the hot look-ups are built once; only their parameters change per call.
_BY_NUMBER = _base().where(Ticket.__table__.c.number == bindparam("number"))
_BY_ID = _base().where(Ticket.__table__.c.id == bindparam("ticket_id"))
_ASSISTING_ONE = (
    select(Department.__table__.c.name)
    .join(ticket_assisting, ticket_assisting.c.department_id == Department.__table__.c.id)
    .where(ticket_assisting.c.ticket_id == bindparam("ticket_id"))
    .order_by(Department.__table__.c.code)
)
_EVENT_COLUMNS = TicketEvent.__table__.c
_EVENTS = (select(_EVENT_COLUMNS.at, _EVENT_COLUMNS.actor, _EVENT_COLUMNS.action, _EVENT_COLUMNS.from_status,
                  _EVENT_COLUMNS.to_status, _EVENT_COLUMNS.note, _EVENT_COLUMNS.public)
           .where(_EVENT_COLUMNS.ticket_id == bindparam("ticket_id")).order_by(_EVENT_COLUMNS.id))
_PUBLIC_EVENTS = _EVENTS.where(_EVENT_COLUMNS.public.is_(True))


def _one(conn: Connection | Session, stmt: Any, params: dict[str, Any]) -> TicketView | None:
    row = conn.execute(stmt, params).mappings().first()
    if row is None:
        return None
    assisting = tuple(conn.execute(_ASSISTING_ONE, {"ticket_id": row["id"]}).scalars())
    return row_view(row, assisting, _linked_numbers(conn, [row]))


def view_by_number(conn: Connection | Session, number: str) -> TicketView | None:
    return _one(conn, _BY_NUMBER, {"number": number})


def view_by_id(conn: Connection | Session, ticket_id: int) -> TicketView:
    view = _one(conn, _BY_ID, {"ticket_id": ticket_id})
    assert view is not None, ticket_id
    return view


def views(conn: Connection | Session, *where: Any, order_newest: bool = False, limit: int | None = None,
          offset: int = 0) -> list[TicketView]:
    """Tickets as views with one query, plus one for the assisting departments of those found."""
    t = Ticket.__table__
    stmt = _base().where(*where)
    if order_newest:
        stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    rows = conn.execute(stmt).mappings().all()
    if not rows:
        return []
    assisting: dict[int, list[str]] = {}
    a, d = ticket_assisting, Department.__table__
    for ticket_id, name in conn.execute(
        select(a.c.ticket_id, d.c.name).join(d, d.c.id == a.c.department_id)
        .where(a.c.ticket_id.in_([r["id"] for r in rows])).order_by(d.c.code)
    ):
        assisting.setdefault(ticket_id, []).append(name)
    numbers = _linked_numbers(conn, rows)
    return [row_view(r, tuple(assisting.get(r["id"], ())), numbers) for r in rows]


def events(conn: Connection | Session, ticket_id: int, public_only: bool) -> list[EventView]:
    return [_event_view(row) for row in conn.execute(_PUBLIC_EVENTS if public_only else _EVENTS,
                                                     {"ticket_id": ticket_id})]


def progress(conn: Connection | Session, ticket_id: int) -> PublicProgress:
    v = view_by_id(conn, ticket_id)
    return PublicProgress(
        number=v.number, kind=v.kind, status=v.status, department=v.lead_department, created_at=v.created_at,
        dispatched_at=v.dispatched_at, deadline=v.deadline, resolved_at=v.resolved_at, reply=v.reply,
        timeline=tuple(events(conn, ticket_id, True)),
    )


_NUMBER_BY_ID = select(Ticket.__table__.c.number).where(Ticket.__table__.c.id == bindparam("ticket_id"))
_T, _G = Ticket.__table__, QueryGuard.__table__
GUARDED_CODE = (
    select(_T.c.id, _T.c.code_salt, _T.c.code_hash, _G.c.failures, _G.c.locked_until)
    .select_from(_T.outerjoin(_G, (_G.c.ticket_id == _T.c.id) & (_G.c.channel == bindparam("channel"))))
    .where(_T.c.number == bindparam("number"))
)


def _event_view(row: Any) -> EventView:
    at, actor, action, from_status, to_status, note, public = row
    return EventView(at, actor, action, Status(from_status) if from_status else None,
                     Status(to_status) if to_status else None, note, public)


async def view_fast(fast: FastConnection, stmt: Any, params: dict[str, Any]) -> TicketView | None:
    """:func:`view_by_number` / :func:`view_by_id` on PostgreSQL's asyncpg fast path."""
    row = await fast.fetchrow(stmt, params)
    if row is None:
        return None
    assisting = tuple(r[0] for r in await fast.fetch(_ASSISTING_ONE, {"ticket_id": row["id"]}))
    numbers = {}
    for key in ("merged_into_id", "probable_duplicate_of_id"):
        if row[key] is not None:
            numbers[row[key]] = (await fast.fetchrow(_NUMBER_BY_ID, {"ticket_id": row[key]}))[0]
    return row_view(row, assisting, numbers)


async def view_by_number_fast(fast: FastReads, number: str) -> TicketView | None:
    async with fast.connection() as conn:
        return await view_fast(conn, _BY_NUMBER, {"number": number})


async def progress_fast(fast: FastConnection, ticket_id: int) -> PublicProgress:
    v = await view_fast(fast, _BY_ID, {"ticket_id": ticket_id})
    assert v is not None, ticket_id
    timeline = tuple(_event_view(r) for r in await fast.fetch(_PUBLIC_EVENTS, {"ticket_id": ticket_id}))
    return PublicProgress(
        number=v.number, kind=v.kind, status=v.status, department=v.lead_department, created_at=v.created_at,
        dispatched_at=v.dispatched_at, deadline=v.deadline, resolved_at=v.resolved_at, reply=v.reply,
        timeline=timeline,
    )
