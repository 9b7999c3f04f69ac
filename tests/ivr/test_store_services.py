"""The hotline's services on the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ivr.services import CallRecordData, QueryLocked, TicketNotFound, WrongCode
from ivr.store_services import StoreServices
from tickets.enums import CallOutcome, Kind, Status
from tickets.views import Actor


async def test_register_query_and_caller_match(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services = StoreServices(store, recordings_dir=tmp_path)
    wav = tmp_path / "call-1-1.wav"
    wav.write_bytes(b"RIFF")
    reg = await services.register_ticket(call_id="call-1", kind=Kind.COMPLAINT, town_code="510112001",
                                         caller_phone="13812345678", recording=wav, recording_s=12.5,
                                         needs_callback=False)
    view = await store.tickets.get(reg.number)
    assert view.recording_ref == "call-1-1.wav" and view.status is Status.REGISTERED
    summary = await services.query_ticket(reg.number, reg.extraction_code)
    assert summary.number == reg.number and summary.kind is Kind.COMPLAINT and summary.department is None
    assert [s.number for s in await services.open_tickets_for_caller("13812345678")] == [reg.number]
    await store.people.add_department("ZJJ", "区住房和城乡建设局")
    await store.tickets.dispatch(reg.number, "ZJJ", Actor("agent:li"))
    summary = (await services.open_tickets_for_caller("13812345678"))[0]
    assert summary.department == "区住房和城乡建设局" and summary.dispatched_on is not None


async def test_query_errors(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services = StoreServices(store, recordings_dir=tmp_path)
    reg = await services.register_ticket(call_id="c", kind=Kind.HELP, town_code=None, caller_phone=None,
                                         recording=None, recording_s=0, needs_callback=True)
    with pytest.raises(TicketNotFound, match="check digit"):
        await services.query_ticket(reg.number[:-1] + str((int(reg.number[-1]) + 1) % 10), "123456")
    with pytest.raises(TicketNotFound):
        await services.query_ticket("12345", "123456")
    wrong = "000000" if reg.extraction_code != "000000" else "111111"
    with pytest.raises(WrongCode) as info:
        await services.query_ticket(reg.number, wrong)
    assert info.value.attempts_left == 2
    for _ in range(2):
        with pytest.raises(WrongCode):
            await services.query_ticket(reg.number, wrong)
    with pytest.raises(QueryLocked):
        await services.query_ticket(reg.number, reg.extraction_code)


async def test_call_record_is_masked(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    services = StoreServices(store, recordings_dir=tmp_path, worker="w0")
    now = dt.datetime.now(dt.UTC)
    await services.save_call_record(CallRecordData(
        call_id="abc", caller="13812345678", arrived_at=now, answered_at=now, ended_at=now,
        path=("main", "progress"), outcome=CallOutcome.SELF_SERVED))
    async with store.sessions() as session:
        row = (await session.execute(text("SELECT caller_masked, path, outcome, worker FROM call_records"))).one()
    assert tuple(row) == ("138****5678", '["main", "progress"]', "self_served", "w0")


async def test_top_guides_from_the_sample_catalog(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import PROJECT_ROOT
    from tickets.catalog.importer import read_file

    await store.catalog.import_items(read_file(PROJECT_ROOT / "tickets" / "data" / "guides.yaml"))
    guides = await StoreServices(store, recordings_dir=tmp_path).top_guides(5)
    assert len(guides) == 5
    assert all(g.name and g.place and g.hours and g.materials for g in guides)
    assert all("（" in m for m in guides[0].materials)
