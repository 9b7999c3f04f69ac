"""The work-order lifecycle through the one service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from tickets.enums import Channel, Kind, Status
from tickets.errors import DeadlineError, IllegalTransition, StoreError, TicketNotFound
from tickets.numbers import parse_ticket_number
from tickets.views import Actor, NewTicket

HOTLINE = Actor("hotline")
AGENT = Actor("agent:zhang", None)


async def _departments(store) -> None:  # type: ignore[no-untyped-def]
    await store.people.add_department("ZJJ", "区住房和城乡建设局", "028-84800001")
    await store.people.add_department("CGJ", "区城市管理局")
    await store.people.add_department("SJJ", "区市场监督管理局")


async def test_create_gives_valid_number_and_code(store) -> None:  # type: ignore[no-untyped-def]
    created = await store.tickets.create(
        NewTicket(channel=Channel.HOTLINE, kind=Kind.COMPLAINT, content="小区夜间施工噪音", caller_phone="13812345678"),
        HOTLINE,
    )
    t = created.ticket
    assert parse_ticket_number(t.number) == t.number
    assert len(created.extraction_code) == 6 and created.extraction_code.isdigit()
    assert t.status is Status.REGISTERED
    assert t.caller_masked == "138****5678"
    again = await store.tickets.get(t.number)
    assert again == t


async def test_full_flow_with_return_extension_reopen(store) -> None:  # type: ignore[no-untyped-def]
    await _departments(store)
    svc = store.tickets
    n = (await svc.create(NewTicket(channel=Channel.STB, kind=Kind.HELP, content="路灯不亮"), HOTLINE)).ticket.number
    t = await svc.dispatch(n, "ZJJ", AGENT, assisting=["CGJ"])
    assert (t.status, t.lead_department, t.assisting_departments) == (Status.DISPATCHED, "区住房和城乡建设局",
                                                                       ("区城市管理局",))
    t = await svc.return_(n, Actor("dept:ZJJ"), "不属于本部门职责")
    assert t.status is Status.RETURNED and t.lead_department is None
    t = await svc.dispatch(n, "CGJ", AGENT)
    assert t.lead_department_code == "CGJ"
    await svc.start(n, Actor("dept:CGJ"))
    t = await svc.extend(n, Actor("dept:CGJ"), t.deadline + dt.timedelta(days=10), "需协调供电公司")
    assert t.status is Status.EXTENDED
    await svc.start(n, Actor("dept:CGJ"))
    t = await svc.resolve(n, Actor("dept:CGJ"), "已更换灯具")
    assert t.status is Status.RESOLVED and t.resolved_at is not None
    t = await svc.call_back(n, AGENT, 3, "市民表示仍不亮")
    assert t.status is Status.REOPENED and t.satisfaction == 3 and t.resolved_at is None
    await svc.resolve(n, Actor("dept:CGJ"), "已再次维修")
    t = await svc.call_back(n, AGENT, 1)
    assert t.status is Status.CALLED_BACK
    t = await svc.close(n, AGENT)
    assert t.status is Status.CLOSED


async def test_illegal_move_names_both_states(store) -> None:  # type: ignore[no-untyped-def]
    n = (await store.tickets.create(NewTicket(channel=Channel.WEB, kind=Kind.CONSULTATION), HOTLINE)).ticket.number
    with pytest.raises(IllegalTransition, match=r"^illegal transition: registered -> in_progress$"):
        await store.tickets.start(n, AGENT)
    await store.tickets.close(n, AGENT)
    with pytest.raises(IllegalTransition, match=r"^illegal transition: closed -> resolved$"):
        await store.tickets.resolve(n, AGENT, "x")
    assert (await store.tickets.get(n)).status is Status.CLOSED


async def test_return_needs_reason_and_unknown_ticket(store) -> None:  # type: ignore[no-untyped-def]
    await _departments(store)
    n = (await store.tickets.create(NewTicket(channel=Channel.WEB, kind=Kind.HELP), HOTLINE)).ticket.number
    await store.tickets.dispatch(n, "ZJJ", AGENT)
    with pytest.raises(StoreError, match="needs a reason"):
        await store.tickets.return_(n, AGENT, "  ")
    with pytest.raises(TicketNotFound, match="no ticket 000000000000"):
        await store.tickets.get("000000000000")


async def test_extension_must_be_later_and_before_deadline(db_settings) -> None:  # type: ignore[no-untyped-def]
    from tickets.store import Store

    now = [dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)]  # Monday 10:00 in Chengdu
    store = Store(db_settings, clock=lambda: now[0])
    try:
        await _departments(store)
        n = (await store.tickets.create(NewTicket(channel=Channel.WEB, kind=Kind.CONSULTATION), HOTLINE)
             ).ticket.number
        t = await store.tickets.dispatch(n, "ZJJ", AGENT)
        assert t.deadline == dt.date(2026, 11, 5)
        with pytest.raises(DeadlineError, match="is not after"):
            await store.tickets.extend(n, AGENT, dt.date(2026, 11, 5), "r")
        now[0] = dt.datetime(2026, 11, 6, 2, 0, tzinfo=dt.UTC)
        with pytest.raises(DeadlineError, match=r"^deadline 2026-11-05 has passed; extension refused$"):
            await store.tickets.extend(n, AGENT, dt.date(2026, 11, 20), "too late")
        assert (await store.tickets.get(n)).status is Status.DISPATCHED
    finally:
        await store.close()


async def test_merge_and_duplicate_flag(store) -> None:  # type: ignore[no-untyped-def]
    svc = store.tickets
    first = (await svc.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.COMPLAINT, category="噪音",
                                        caller_phone="13900001111"), HOTLINE)).ticket
    second = (await svc.create(NewTicket(channel=Channel.STB, kind=Kind.COMPLAINT, category="噪音",
                                         caller_phone="13900001111"), HOTLINE)).ticket
    other = (await svc.create(NewTicket(channel=Channel.STB, kind=Kind.COMPLAINT, category="占道",
                                        caller_phone="13900001111"), HOTLINE)).ticket
    assert first.probable_duplicate_of is None
    assert second.probable_duplicate_of == first.number
    assert other.probable_duplicate_of is None
    merged = await svc.merge(second.number, first.number, AGENT)
    assert merged.status is Status.MERGED and merged.merged_into == first.number
    with pytest.raises(StoreError, match="into itself"):
        await svc.merge(first.number, first.number, AGENT)


async def test_open_for_phone_newest_first(store) -> None:  # type: ignore[no-untyped-def]
    svc = store.tickets
    a = (await svc.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP, category="a",
                                    caller_phone="13700000000"), HOTLINE)).ticket.number
    b = (await svc.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP, category="b",
                                    caller_phone="13700000000"), HOTLINE)).ticket.number
    await svc.close(a, AGENT)
    assert [t.number for t in await svc.open_for_phone("13700000000")] == [b]
    assert await svc.open_for_phone("13700000001") == []
