"""Progress by extraction code: public events only, wrong codes counted and locking per channel."""

from __future__ import annotations

import datetime as dt

import pytest

from tickets.enums import Channel, Kind, Status
from tickets.errors import QueryLockedError, TicketNotFound, WrongExtractionCode
from tickets.views import Actor, NewTicket


async def test_progress_shows_public_timeline_only(store) -> None:  # type: ignore[no-untyped-def]
    await store.people.add_department("ZJJ", "区住房和城乡建设局")
    created = await store.tickets.create(
        NewTicket(channel=Channel.HOTLINE, kind=Kind.COMPLAINT, caller_phone="13812345678", content="secret"),
        Actor("hotline"))
    n = created.ticket.number
    await store.tickets.add_note(n, Actor("agent:li"), "内部备注：来电人情绪激动", public=False)
    await store.tickets.dispatch(n, "ZJJ", Actor("agent:li"))
    progress = await store.tickets.query_progress(n, created.extraction_code, Channel.STB)
    assert progress.status is Status.DISPATCHED
    assert progress.department == "区住房和城乡建设局"
    assert [e.action for e in progress.timeline] == ["created", "dispatch"]
    assert all("内部" not in e.note for e in progress.timeline)
    assert not hasattr(progress, "caller_masked") and not hasattr(progress, "transcript")


async def test_wrong_codes_lock_that_channel(db_settings) -> None:  # type: ignore[no-untyped-def]
    from tickets.store import Store

    now = [dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)]
    store = Store(db_settings, clock=lambda: now[0])
    try:
        created = await store.tickets.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP), Actor("hotline"))
        n, code = created.ticket.number, created.extraction_code
        wrong = "000000" if code != "000000" else "111111"
        for left in (2, 1, 0):
            with pytest.raises(WrongExtractionCode) as info:
                await store.tickets.query_progress(n, wrong, Channel.HOTLINE)
            assert info.value.attempts_left == left
        with pytest.raises(QueryLockedError):
            await store.tickets.query_progress(n, code, Channel.HOTLINE)
        # Another channel is not locked by the phone's failures.
        assert (await store.tickets.query_progress(n, code, Channel.STB)).number == n
        now[0] += dt.timedelta(minutes=31)
        assert (await store.tickets.query_progress(n, code, Channel.HOTLINE)).number == n
        with pytest.raises(TicketNotFound):
            await store.tickets.query_progress("123456789012", code, Channel.HOTLINE)
    finally:
        await store.close()


async def test_progress_for_matching_caller(store) -> None:  # type: ignore[no-untyped-def]
    created = await store.tickets.create(
        NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP, caller_phone="13812345678"), Actor("hotline"))
    n = created.ticket.number
    assert (await store.tickets.public_progress_for_caller(n, "13812345678")).number == n
    with pytest.raises(TicketNotFound):
        await store.tickets.public_progress_for_caller(n, "13800000000")
