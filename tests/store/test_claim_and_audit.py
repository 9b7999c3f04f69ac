"""The claim race between agents on separate connections, and the append-only audit trail."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tickets.enums import Channel, Kind, Role
from tickets.errors import ClaimConflict
from tickets.store import Store
from tickets.views import Actor, NewTicket


async def test_exactly_one_of_many_concurrent_claims_wins(db_settings) -> None:  # type: ignore[no-untyped-def]
    stores = [Store(db_settings) for _ in range(4)]
    try:
        agents = [await stores[0].people.add_user(f"agent{i}", f"坐席{i}", Role.AGENT, "correct horse battery")
                  for i in range(8)]
        numbers = [(await stores[0].tickets.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP),
                                                   Actor("hotline"))).ticket.number for _ in range(5)]
        for number in numbers:
            start = asyncio.Event()

            async def claim(i: int, number: str = number, start: asyncio.Event = start) -> int | None:
                await start.wait()
                try:
                    await stores[i % 4].tickets.claim(number, Actor(f"agent:{i}", agents[i].id))
                except ClaimConflict:
                    return None
                return agents[i].id

            tasks = [asyncio.create_task(claim(i)) for i in range(8)]
            start.set()
            winners = [w for w in await asyncio.gather(*tasks) if w is not None]
            assert len(winners) == 1, winners
            view = await stores[1].tickets.get(number)
            assert view.owner_agent_id == winners[0]
            claims = [e for e in await stores[2].tickets.events(number) if e.action == "claim"]
            assert len(claims) == 1
    finally:
        for s in stores:
            await s.close()


async def test_release_only_by_owner(store) -> None:  # type: ignore[no-untyped-def]
    a = await store.people.add_user("a1", "甲", Role.AGENT, "correct horse battery")
    b = await store.people.add_user("b1", "乙", Role.AGENT, "correct horse battery")
    n = (await store.tickets.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP), Actor("hotline"))).ticket.number
    await store.tickets.claim(n, Actor("agent:a1", a.id))
    with pytest.raises(ClaimConflict):
        await store.tickets.release(n, Actor("agent:b1", b.id))
    await store.tickets.release(n, Actor("agent:a1", a.id))
    assert (await store.tickets.claim(n, Actor("agent:b1", b.id))).owner_agent_id == b.id


async def test_every_change_is_an_event_and_events_are_append_only(store) -> None:  # type: ignore[no-untyped-def]
    await store.people.add_department("ZJJ", "区住房和城乡建设局")
    n = (await store.tickets.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP), Actor("hotline"))).ticket.number
    await store.tickets.dispatch(n, "ZJJ", Actor("agent:li"))
    await store.tickets.add_note(n, Actor("agent:li"), "已电话联系", public=False)
    await store.tickets.escalate(n, Actor("supervisor:wang"), "临近时限")
    events = await store.tickets.events(n)
    assert [(e.action, e.actor) for e in events] == [
        ("created", "hotline"), ("dispatch", "agent:li"), ("note", "agent:li"), ("escalate", "supervisor:wang")]
    assert events[1].from_status.value == "registered" and events[1].to_status.value == "dispatched"
    for statement in ("UPDATE ticket_events SET note = 'x'", "DELETE FROM ticket_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with store.sessions.begin() as session:
                await session.execute(text(statement))
    assert len(await store.tickets.events(n)) == 4


async def test_passwords_are_argon2_and_checked(store) -> None:  # type: ignore[no-untyped-def]
    await store.people.add_department("ZJJ", "区住房和城乡建设局")
    user = await store.people.add_user("zj1", "住建专员", Role.DEPARTMENT, "a long passphrase", department_code="ZJJ")
    assert (await store.people.authenticate("zj1", "a long passphrase")) == user
    assert await store.people.authenticate("zj1", "wrong password") is None
    assert await store.people.authenticate("nobody", "a long passphrase") is None
    async with store.sessions() as session:
        stored = (await session.execute(text("SELECT password_hash FROM users"))).scalar_one()
    assert stored.startswith("$argon2id$")
