"""Progress queries by phone, end to end (``hotline serve`` straight and through Kamailio, real pjsua2 callers):
a trusted caller ID hears its own tickets; anyone else keys in ticket number and extraction code (RFC 4733 or SIP INFO);
three wrong codes lock phone queries of that ticket."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ivr.store_services import StoreServices
from menus.schema import Phrase as P
from menus.speech import Speaker
from tests.hotline import audio
from tests.hotline.harness import FRONT_DOORS, HotlineServer, call, db_of, seed_ticket, serve, wait_for
from tickets.config import Settings
from tickets.enums import Channel
from tickets.errors import QueryLockedError
from tickets.store import Store

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.timeout(180)]

DTMF_S_PER_KEY = 0.22  # pjsua sends RFC 4733 keys of 160 ms every 200 ms (measured)


@pytest.fixture(scope="module", params=FRONT_DOORS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    yield from serve(tmp_path_factory.mktemp("hotline-progress"), kamailio=request.param)


async def status_prompts(settings: Settings, speaker: Speaker, phone: str) -> list[Path]:
    """What the flow says about the caller's newest open ticket (the product's own sentence composition)."""
    store = Store(settings)
    try:
        [summary] = await StoreServices(store, recordings_dir=settings.paths.recordings_dir
                                        ).open_tickets_for_caller(phone)
    finally:
        await store.close()
    return speaker.status(summary)


def key_steps(method: str, keys: str) -> list[str]:
    """Keys as caller steps: pjmedia queues at most 32 RFC 4733 keys, so long entries go in parts."""
    steps = []
    for i in range(0, len(keys), 20):
        part = keys[i : i + 20]
        steps += [f"{method}:{part}", f"sleep:{DTMF_S_PER_KEY * len(part):.1f}"]
    return steps


def assert_heard(recording: str, prompts: list[Path]) -> list[audio.Hit]:
    hits = audio.heard_in_order(audio.load(Path(recording)), prompts)
    assert min(h.score for h in hits) > 0.7, [round(h.score, 3) for h in hits]
    return hits


async def test_trusted_caller_hears_the_status_of_its_own_ticket(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    speaker = speaker_for(server.settings)
    phone = "13912340001"
    ticket, _ = await seed_ticket(server.settings, phone=phone, dispatch_to="any")
    expected = [*speaker.open_tickets(1), *await status_prompts(server.settings, speaker, phone)]
    [result] = await call(server.target, "wait_audio", "dtmf:1", f"sleep:{audio.seconds(expected) + 0.8:.1f}",
                          "hangup", headers=[f"P-Asserted-Identity: <sip:{phone}@127.0.0.1>"],
                          from_user="13800002000", record_dir=tmp_path / "heard", timeout_s=60)
    assert result["answered"] and result["errors"] == [] and result["ended_by"] == "local", result
    hits = assert_heard(result["recording"], expected)
    assert hits[0].seconds < 3.0  # the key cut the welcome short

    db = db_of(server)
    [record] = await wait_for(lambda: db.call_records("139****0001"), 10, "the call record")
    assert record["path"][:3] == ["main", "progress", "progress.mine.1"], record
    assert record["outcome"] == "self_served"
    assert record["ticket_id"] == db.ticket(ticket.number)["id"]


async def test_untrusted_callers_key_in_number_and_code_by_rfc4733_and_by_sip_info(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    speaker = speaker_for(server.settings)
    db = db_of(server)

    async def query(method: str, owner: str, caller: str) -> None:
        ticket, code = await seed_ticket(server.settings, phone=owner, dispatch_to="any")
        expected = await status_prompts(server.settings, speaker, owner)
        [result] = await call(server.target, "wait_audio", f"{method}:1", *key_steps(method, f"{ticket.number}#{code}#"),
                              f"sleep:{audio.seconds(expected) + 0.8:.1f}", "hangup", from_user=caller,
                              record_dir=tmp_path / method, timeout_s=60)
        assert result["answered"] and result["errors"] == [] and result["ended_by"] == "local", result
        assert_heard(result["recording"], expected)
        [record] = await wait_for(lambda: db.call_records(f"138****{caller[-4:]}"), 10, "the call record")
        assert record["path"][:4] == ["main", "progress", "progress.number", "progress.code"], record
        assert "progress.answer" in record["path"] and record["outcome"] == "self_served"
        assert record["ticket_id"] == db.ticket(ticket.number)["id"]

    await asyncio.gather(query("dtmf", "13912340002", "13800002001"), query("info", "13912340003", "13800002002"))


async def test_three_wrong_codes_lock_phone_queries_of_the_ticket(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    speaker = speaker_for(server.settings)
    ticket, code = await seed_ticket(server.settings, phone="13912340004", dispatch_to="any")
    wrong = [c for c in ("111111", "222222", "333333", "444444") if c != code][:3]
    keys = f"{ticket.number}#" + "".join(f"{c}#" for c in wrong)
    locked = speaker(P.WRONG_CODE_LOCKED)
    [result] = await call(server.target, "wait_audio", "dtmf:1", *key_steps("dtmf", keys),
                          f"sleep:{audio.seconds(locked) + 0.8:.1f}", "hangup",
                          from_user="13800002003", record_dir=tmp_path / "heard", timeout_s=60)
    assert result["answered"] and result["errors"] == [], result
    assert_heard(result["recording"], locked)

    db = db_of(server)
    [record] = await wait_for(lambda: db.call_records("138****2003"), 10, "the call record")
    assert record["path"][-1] == "progress.locked" and record["outcome"] == "abandoned", record
    ticket_id = db.ticket(ticket.number)["id"]
    [guard] = db.rows("SELECT * FROM query_guards WHERE ticket_id = ?", ticket_id)
    assert guard["channel"] == "hotline" and guard["failures"] == 3
    assert dt.datetime.fromisoformat(guard["locked_until"]) > dt.datetime.now(dt.UTC).replace(tzinfo=None)

    # the right code is refused now, on the phone ...
    [result] = await call(server.target, "wait_audio", "dtmf:1", f"dtmf:{ticket.number}#{code}#",
                          f"sleep:{DTMF_S_PER_KEY * 20 + 2:.1f}", "hangup", from_user="13800002004", timeout_s=60)
    assert result["answered"], result
    [record] = await wait_for(lambda: db.call_records("138****2004"), 10, "the call record")
    assert record["path"][-1] == "progress.locked" and record["outcome"] == "abandoned", record
    # ... and by the store (other channels are not locked)
    store = Store(server.settings)
    try:
        with pytest.raises(QueryLockedError):
            await store.tickets.query_progress(ticket.number, code, Channel.HOTLINE)
        assert (await store.tickets.query_progress(ticket.number, code, Channel.STB)).number == ticket.number
    finally:
        await store.close()
