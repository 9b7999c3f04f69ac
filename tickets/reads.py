"""Synchronous read queries on a Connection (or Session), shared by the reader and by write transactions.

Reads are plain Core statements turned into frozen views: no ORM entity loading on the look-up path. On
SQLite they run on the store's reader thread pool (one thread hop per look-up instead of one per statement);
on PostgreSQL through ``AsyncConnection.run_sync``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tickets.models import Department, Ticket, TicketEvent, ticket_assisting
from tickets.numbers import mask_phone
from tickets.views import EventView, PublicProgress, TicketView

__all__ = ["LEAD", "events", "progress", "row_view", "views"]

LEAD = Department.__table__.alias("lead")
MERGED = Ticket.__table__.alias("merged")
DUP = Ticket.__table__.alias("dup")


def row_view(r: Any, assisting: tuple[str, ...]) -> TicketView:
    return TicketView(
        number=r["number"], channel=r["channel"], kind=r["kind"], category=r["category"], status=r["status"],
        content=r["content"], town_code=r["town_code"], village_code=r["village_code"], address=r["address"],
        caller_masked=mask_phone(r["caller_phone"]), transcript=r["transcript"],
        transcript_confidence=r["transcript_confidence"], recording_ref=r["recording_ref"],
        lead_department=r["lead_name"], lead_department_code=r["lead_code"], assisting_departments=assisting,
        owner_agent_id=r["owner_agent_id"], escalated=r["escalated"], escalation_reason=r["escalation_reason"],
        needs_callback=r["needs_callback"], deadline=r["deadline"], satisfaction=r["satisfaction"],
        created_at=r["created_at"], updated_at=r["updated_at"], dispatched_at=r["dispatched_at"],
        resolved_at=r["resolved_at"], reply=r["reply"], merged_into=r["merged_number"],
        probable_duplicate_of=r["dup_number"],
    )



def views(conn: Connection | Session, *where: Any, order_newest: bool = False, limit: int | None = None,
          offset: int = 0) -> list[TicketView]:
    """Tickets as views with one query, plus one for the assisting departments of those found."""
    t = Ticket.__table__
    stmt = (
        select(t, LEAD.c.name.label("lead_name"), LEAD.c.code.label("lead_code"),
               MERGED.c.number.label("merged_number"), DUP.c.number.label("dup_number"))
        .select_from(t.outerjoin(LEAD, LEAD.c.id == t.c.lead_department_id)
                     .outerjoin(MERGED, MERGED.c.id == t.c.merged_into_id)
                     .outerjoin(DUP, DUP.c.id == t.c.probable_duplicate_of_id))
        .where(*where)
    )
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
    return [row_view(r, tuple(assisting.get(r["id"], ()))) for r in rows]


def events(conn: Connection | Session, ticket_id: int, public_only: bool) -> list[EventView]:
    e = TicketEvent.__table__
    stmt = (select(e.c.at, e.c.actor, e.c.action, e.c.from_status, e.c.to_status, e.c.note, e.c.public)
            .where(e.c.ticket_id == ticket_id).order_by(e.c.id))
    if public_only:
        stmt = stmt.where(e.c.public.is_(True))
    return [EventView(*row) for row in conn.execute(stmt)]


def progress(conn: Connection | Session, ticket_id: int) -> PublicProgress:
    v = views(conn, Ticket.__table__.c.id == ticket_id)[0]
    return PublicProgress(
        number=v.number, kind=v.kind, status=v.status, department=v.lead_department, created_at=v.created_at,
        dispatched_at=v.dispatched_at, deadline=v.deadline, resolved_at=v.resolved_at, reply=v.reply,
        timeline=tuple(events(conn, ticket_id, True)),
    )
