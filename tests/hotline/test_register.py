"""Registering a matter by phone, end to end: a real pjsua2 caller calls ``hotline serve`` (one worker on the
public SIP port, no Kamailio), walks main 2 -> kind -> skip town -> speaks after the tone -> #, and hears its
ticket number, which the test decodes from what the caller recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from menus.speech import Speaker
from tests.hotline.flows import assert_recording, register_and_hear_the_number
from tests.hotline.harness import HotlineServer, call, db_of, make_speech, serve, wait_for
from tickets.config import Settings

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    yield from serve(tmp_path_factory.mktemp("hotline-register"), kamailio=False)


async def test_register_commits_the_ticket_before_the_caller_hears_its_number(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    await register_and_hear_the_number(server, speaker_for(server.settings), tmp_path, "13800001001")


async def test_hang_up_while_recording_leaves_a_call_back_ticket_with_the_partial_recording(
        server: HotlineServer, tmp_path: Path) -> None:
    db = db_of(server)
    phone = "13800001002"
    speech = make_speech(tmp_path / "speech.wav", 2.0)
    [result] = await call(server.target, "wait_audio", "dtmf:22#5", "sleep:1.0", f"play:{speech}", "hangup",
                          from_user=phone, timeout_s=40)
    assert result["answered"] and result["ended_by"] == "local", result
    [ticket] = await wait_for(lambda: db.hotline_tickets(phone), 10, "the ticket")
    assert (ticket["kind"], ticket["status"], ticket["needs_callback"]) == ("help", "registered", 1)
    assert_recording(server, ticket, min_s=1.5)
    assert ticket["recording_s"] >= 1.5
    [record] = await wait_for(lambda: db.call_records("138****1002"), 10, "the call record")
    assert record["outcome"] == "ticket_registered" and record["ticket_id"] == ticket["id"]
    assert record["path"][-1] == "register.record"
    assert dt.datetime.fromisoformat(record["ended_at"]) >= dt.datetime.fromisoformat(ticket["created_at"])
