"""Service guides and reaching an agent, end to end (``hotline serve`` straight and through Kamailio, real pjsua2
callers; the agent group is a pjsua2 phone in listen mode)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ivr.store_services import StoreServices
from menus.schema import Phrase as P
from menus.speech import Speaker
from tests.hotline import audio
from tests.hotline.harness import (FRONT_DOORS, HotlineServer, agent_phone, call, db_of, make_tone, serve,
                                   wait_for)
from tickets.config import Settings
from tickets.store import Store

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.timeout(180)]

CALLER_HZ = 700
AGENT_HZ = 440


@pytest.fixture(scope="module", params=FRONT_DOORS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    yield from serve(tmp_path_factory.mktemp("hotline-guides-agent"), kamailio=request.param)


def tone_windows(recording: str, hz: float, window_s: float = 0.25) -> int:
    """How many windows of the recording are a loud tone of ``hz``."""
    samples = audio.load(Path(recording))
    size = int(window_s * audio.RATE_HZ)
    found = 0
    for lo in range(0, len(samples) - size, size):
        part = samples[lo : lo + size]
        if audio.rms(part) > 300 and abs(audio.dominant_hz(part) - hz) < 20:
            found += 1
    return found


async def test_guide_facts_are_read_and_the_call_counts_as_self_served(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    settings = server.settings
    speaker = speaker_for(settings)
    store = Store(settings)
    try:
        guides = await StoreServices(store, recordings_dir=settings.paths.recordings_dir).top_guides(
            settings.ivr.top_guides)
    finally:
        await store.close()
    assert guides, "the server seeds the sample catalog"
    facts = speaker.guide(guides[0])
    heard_part = list(facts[: max(2, next((i for i in range(len(facts)) if audio.seconds(facts[: i + 1]) > 8),
                                          len(facts)))])
    [result] = await call(server.target, "wait_audio", "dtmf:31", f"sleep:{audio.seconds(heard_part) + 0.8:.1f}",
                          "hangup", from_user="13800003001", record_dir=tmp_path / "heard", timeout_s=60)
    assert result["answered"] and result["errors"] == [] and result["ended_by"] == "local", result
    hits = audio.heard_in_order(audio.load(Path(result["recording"])), heard_part)
    assert min(h.score for h in hits) > 0.7, [round(h.score, 3) for h in hits]

    db = db_of(server)
    [record] = await wait_for(lambda: db.call_records("138****3001"), 10, "the call record")
    assert record["path"] == ["main", "guides", f"guides.{guides[0].code}"], record
    assert record["outcome"] == "self_served" and record["ticket_id"] is None


async def test_zero_reaches_an_agent_who_answers_and_both_hear_each_other(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    speaker = speaker_for(server.settings)
    caller_tone = make_tone(tmp_path / "caller.wav", 1.5, CALLER_HZ)
    agent_tone = make_tone(tmp_path / "agent.wav", 1.5, AGENT_HZ)
    transferring_s = audio.seconds(speaker(P.TRANSFERRING))
    async with agent_phone(server.agent_port, "wait_audio:20", f"play:{agent_tone}", record_dir=tmp_path / "agent",
                           timeout_s=40) as agent:
        [result] = await call(server.target, "wait_audio", "dtmf:0", f"sleep:{transferring_s + 1.0:.1f}",
                              f"play:{caller_tone}", "sleep:2.5", "hangup", from_user="13800003002",
                              record_dir=tmp_path / "caller", timeout_s=60)
        answered = await agent.result()
    assert result["answered"] and result["errors"] == [] and result["ended_by"] == "local", result
    assert answered["answered"] and answered["heard_audio"] and answered["errors"] == [], answered
    assert answered["ended_by"] == "remote"  # the worker hung up the agent's leg when the caller left
    assert tone_windows(answered["recording"], CALLER_HZ) >= 3  # the agent heard the caller
    assert tone_windows(result["recording"], AGENT_HZ) >= 3  # the caller heard the agent

    db = db_of(server)
    [record] = await wait_for(lambda: db.call_records("138****3002"), 10, "the call record")
    assert record["path"] == ["main", "agent"] and record["outcome"] == "transferred", record


async def test_no_agent_answering_registers_a_call_back_ticket(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    speaker = speaker_for(server.settings)
    db = db_of(server)
    phone = "13800003003"
    wait_s = audio.seconds(speaker(P.TRANSFERRING)) + server.config["agents"]["no_answer_timeout_s"] + 2.5
    async with agent_phone(server.agent_port, no_answer=True, timeout_s=40) as agent:
        [result] = await call(server.target, "wait_audio", "dtmf:0", f"sleep:{wait_s:.1f}", "hangup",
                              from_user=phone, record_dir=tmp_path / "caller", timeout_s=60)
        rang = await agent.result()
    assert result["answered"] and result["errors"] == [], result
    assert not rang["answered"] and rang["ended_by"] == "remote", rang  # rang, then the worker cancelled

    [ticket] = await wait_for(lambda: db.hotline_tickets(phone), 10, "the call-back ticket")
    assert (ticket["kind"], ticket["status"], ticket["escalated"], ticket["needs_callback"]) == (
        "help", "registered", 1, 1)
    assert "需回电" in ticket["escalation_reason"] and "main > agent" in ticket["content"]
    [record] = await wait_for(lambda: db.call_records("138****3003"), 10, "the call record")
    assert record["path"] == ["main", "agent", "callback"], record
    assert record["outcome"] == "callback_requested" and record["ticket_id"] == ticket["id"]
    # the caller heard the apology after the ticket was committed
    heard = audio.load(Path(result["recording"]))
    busy = audio.load(speaker(P.AGENTS_BUSY)[0])
    assert audio.find(busy[: audio.RATE_HZ], heard).score > 0.8
