"""The shared store every channel opens: engines, sessions and the services on them."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from tickets.catalog.service import Catalog
from tickets.config import Settings
from tickets.db import Database, create_engine, session_factory
from tickets.enums import CallOutcome
from tickets.models import CallRecord, Ticket
from tickets.numbers import mask_phone
from tickets.people import People
from tickets.service import TicketService

__all__ = ["Store"]

log = logging.getLogger(__name__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Store:
    """Opened once per process (``await Store.open(settings)``), closed with :meth:`close`."""

    def __init__(self, settings: Settings, *, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.settings = settings
        self.writer: AsyncEngine = create_engine(settings.database)
        self.db = Database(settings.database)
        self.sessions = session_factory(self.writer)
        self.tickets = TicketService(self.db, settings.tickets, clock=clock)
        self.people = People(self.sessions)
        self.catalog = Catalog(self.sessions)

    async def close(self) -> None:
        await self.writer.dispose()
        await self.db.close()

    async def save_call_record(self, *, call_id: str, caller: str | None, arrived_at: dt.datetime,
                               answered_at: dt.datetime | None, ended_at: dt.datetime, path: list[str] | tuple[str, ...],
                               outcome: CallOutcome, ticket_number: str | None, worker: str | None) -> None:
        def tx(session: Session) -> None:
            ticket_id = None
            if ticket_number:
                ticket_id = session.execute(select(Ticket.id).where(Ticket.number == ticket_number)).scalar_one_or_none()
            session.add(CallRecord(call_id=call_id, caller_masked=mask_phone(caller), arrived_at=arrived_at,
                                   answered_at=answered_at, ended_at=ended_at, path=json.dumps(list(path)),
                                   outcome=outcome, ticket_id=ticket_id, worker=worker))

        await self.db.write(tx)
