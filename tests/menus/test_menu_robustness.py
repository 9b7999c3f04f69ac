"""The call record is saved whatever happens; failures still get the caller to an agent; calls are
independent."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import Callable

import pytest

from ivr.services import CallRecordData
from menus.flow import FlowRunner
from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Entry, Keys, MemoryServices, Pause, ScriptedChannel, Silence
from tickets.enums import CallOutcome


async def test_record_fields(call: Call, make_runner: Callable[..., FlowRunner], services: MemoryServices) -> None:
    ticks = itertools.count()
    start = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)
    runner = make_runner(worker="worker-3", clock=lambda: start + dt.timedelta(seconds=next(ticks)))
    channel = ScriptedChannel([Keys("0"), Agent(True)], call_id="abc@127.0.0.1")
    arrived = start - dt.timedelta(seconds=2)
    record = await runner.run(channel, arrived_at=arrived)
    assert record == CallRecordData(
        call_id="abc@127.0.0.1", caller="13812345678", arrived_at=arrived, answered_at=start,
        ended_at=start + dt.timedelta(seconds=1), path=("main", "agent"), outcome=CallOutcome.TRANSFERRED,
        ticket_number=None, worker="worker-3",
    )
    assert services.records == [record]


async def test_a_failing_save_is_logged_and_the_call_ends(
        call: Call, services: MemoryServices, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(record: CallRecordData) -> None:
        raise ConnectionError("store unreachable")

    services.save_call_record = broken  # type: ignore[method-assign]
    record, _ = await call(Keys("0"), Agent(True), allow_errors=True)
    assert record.outcome is CallOutcome.TRANSFERRED
    assert "call call-1: saving the call record failed" in caplog.text
    assert "ConnectionError: store unreachable" in caplog.text  # with the traceback


async def test_a_cancelled_call_still_saves_its_record(make_runner: Callable[..., FlowRunner],
                                                       services: MemoryServices) -> None:
    reached, never = asyncio.Event(), asyncio.Event()
    channel = ScriptedChannel([Keys("1"), Pause(reached, never)])
    task = asyncio.create_task(make_runner().run(channel))
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (record,) = services.records
    assert record.path == ("main", "progress", "progress.number")
    assert record.outcome is CallOutcome.ABANDONED


async def test_an_unexpected_failure_goes_to_an_agent(
        call: Call, services: MemoryServices, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(limit: int) -> list[object]:
        raise RuntimeError("catalog table missing")

    services.top_guides = broken  # type: ignore[assignment,method-assign]
    with caplog.at_level(logging.ERROR):
        record, channel = await call(Keys("3"), Agent(True), allow_errors=True)
    assert channel.heard[-2:] == ["对不起，系统暂时繁忙。", "正在为您转接人工服务，请稍候。"]
    assert record.outcome is CallOutcome.TRANSFERRED
    assert "call call-1: the flow failed at guides" in caplog.text
    assert "RuntimeError: catalog table missing" in caplog.text


async def test_concurrent_calls_are_independent(make_runner: Callable[..., FlowRunner],
                                                services: MemoryServices) -> None:
    runner = make_runner()
    scripts: dict[str, list[Entry]] = {
        "a": [Keys("0"), Agent(True)],
        "b": [Keys("1"), Keys("202600000042#"), Keys("135790#"), Silence(), Silence(), Silence()],
        "c": [Silence(), Silence(), Silence(), Agent(False)],
    }
    channels = [ScriptedChannel(script, call_id=f"call-{name}-{i}") for i in range(10)
                for name, script in scripts.items()]
    records = await asyncio.gather(*(runner.run(ch) for ch in channels))
    assert all(ch.script == [] for ch in channels)
    outcomes = {r.call_id.split("-")[1]: r.outcome for r in records}
    assert outcomes == {"a": CallOutcome.TRANSFERRED, "b": CallOutcome.SELF_SERVED,
                        "c": CallOutcome.CALLBACK_REQUESTED}
    assert len(services.records) == 30 and len(services.registered) == 10
