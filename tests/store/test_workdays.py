"""Deadlines in working days across weekends, holidays and adjusted working weekends."""

from __future__ import annotations

import datetime as dt

import pytest

from tickets.enums import Channel, Kind
from tickets.store import Store
from tickets.views import Actor, NewTicket
from tickets.workdays import WorkCalendar

D = dt.date


def test_weekends_are_skipped() -> None:
    cal = WorkCalendar()
    assert cal.add_working_days(D(2026, 11, 27), 3) == D(2026, 12, 2)  # Friday + 3 -> Wednesday
    assert cal.add_working_days(D(2026, 11, 28), 1) == D(2026, 11, 30)  # Saturday intake -> Monday
    assert cal.add_working_days(D(2026, 11, 30), 0) == D(2026, 11, 30)
    assert cal.working_days_between(D(2026, 11, 27), D(2026, 12, 2)) == 3


def test_holidays_and_adjusted_weekends() -> None:
    # National Day week 2026: Oct 1-7 off, Sunday Sep 27 and Saturday Oct 10 worked (illustrative).
    overrides = {D(2026, 10, d): False for d in range(1, 8)}
    overrides |= {D(2026, 9, 27): True, D(2026, 10, 10): True}
    cal = WorkCalendar(overrides)
    assert cal.add_working_days(D(2026, 9, 26), 1) == D(2026, 9, 27)
    assert cal.add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert cal.add_working_days(D(2026, 9, 30), 15) == D(2026, 10, 27)
    with pytest.raises(ValueError, match="must not be negative"):
        cal.add_working_days(D(2026, 9, 30), -1)


async def test_ticket_deadline_uses_loaded_calendar(db_settings) -> None:  # type: ignore[no-untyped-def]
    # Tuesday 2026-09-29 14:00 in Chengdu.
    store = Store(db_settings, clock=lambda: dt.datetime(2026, 9, 29, 6, 0, tzinfo=dt.UTC))
    try:
        await store.tickets.load_calendar([(D(2026, 10, d), False, "国庆节") for d in range(1, 8)]
                                          + [(D(2026, 10, 10), True, "调休上班")])
        by_kind = {}
        for kind in Kind:
            t = (await store.tickets.create(NewTicket(channel=Channel.WEB, kind=kind), Actor("web"))).ticket
            by_kind[kind] = t.deadline
        assert by_kind[Kind.CONSULTATION] == D(2026, 10, 9)  # Wed 30, [holidays], Thu 8, Fri 9
        assert by_kind[Kind.HELP] == by_kind[Kind.SUGGESTION] == D(2026, 10, 14)  # Sat 10 worked
        assert by_kind[Kind.COMPLAINT] == by_kind[Kind.REPORT] == D(2026, 10, 26)
    finally:
        await store.close()


def test_time_limits_by_kind() -> None:
    assert [k.time_limit_working_days for k in Kind] == [3, 7, 7, 15, 15]
