"""A hang-up at every single channel operation of each flow: the call record is always saved, a ticket
exists exactly when one was committed, and a hang-up while recording still leaves one."""

from __future__ import annotations

import pytest

from ivr.channel import RecordEnd
from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Entry, Keys, MemoryServices, Silence, Speak
from tests.menus.sample import TICKET
from tickets.enums import CallOutcome

END = (Silence(), Silence(), Silence())
SCENARIOS: dict[str, tuple[bool, tuple[Entry, ...]]] = {
    "progress": (False, (Keys("1"), Keys("202600000042#"), Keys("135790#"), *END)),
    "register": (False, (Keys("2"), Keys("1"), Keys("3"), Speak(12.0), Keys("9"), Keys("0"), Agent(False))),
    "guides": (False, (Keys("3"), Keys("1"), Keys("9"), Keys("0"), Agent(True))),
    "own tickets": (True, (Keys("1"), Keys("1"), Keys("2"), Keys("202600000042"), Keys("000000"), Keys("135790"),
                           *END)),
}


@pytest.mark.parametrize("name", SCENARIOS)
async def test_hangup_at_every_operation(call: Call, services: MemoryServices, name: str) -> None:
    services.open_by_phone["13812345678"] = [TICKET, TICKET]
    trusted, script = SCENARIOS[name]
    full, channel = await call(*script, trusted=trusted)
    total = channel.ops
    assert total > 5
    hung_up_recording = False
    for n in range(1, total + 1):
        services.records.clear()
        services.registered.clear()
        services.failures.clear()
        record, channel = await call(*script, trusted=trusted, hangup_at=n, allow_rest=True)
        assert services.records == [record], f"hang-up at operation {n}"
        assert record.path == full.path[: len(record.path)], f"hang-up at operation {n}"
        assert not channel.flow_hung_up or n == total
        recorded = [r for r in channel.recordings if r.ended_by is RecordEnd.HANGUP]
        if recorded:  # hung up while recording: a ticket anyway, flagged for a call-back
            hung_up_recording = True
            (ticket,) = services.registered
            assert ticket["needs_callback"] is True
            assert record.outcome is CallOutcome.TICKET_REGISTERED
        if services.registered:
            assert record.ticket_number == services.registered[-1]["number"]
        else:
            assert record.outcome in (CallOutcome.ABANDONED, CallOutcome.SELF_SERVED, CallOutcome.TRANSFERRED)
    assert hung_up_recording == (name == "register")
