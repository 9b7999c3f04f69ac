"""The hotline through its front door: ``hotline serve`` with Kamailio in front of three pjsua2 workers (3 calls
each with the pjsua2 wheel), real pjsua2 callers. The register flow end to end, more calls than one worker holds,
503 with Retry-After when every worker is full, callers hanging up at every step of the register flow, and other
SIP clients: sipp pressing a key from its shipped RFC 4733 capture, and baresip calling in headless."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from menus.schema import Phrase as P
from menus.speech import Speaker
from tests.frontdoor.helpers import KAMAILIO, SIPP, free_port, run_sipp_client
from tests.hotline import audio
from tests.hotline.flows import register_and_hear_the_number
from tests.hotline.harness import HotlineServer, call, db_of, make_speech, serve, wait_for
from tickets.config import Settings

pytestmark = [
    pytest.mark.sip,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not KAMAILIO.exists(), reason="needs the Debian package kamailio"),
]

WORKERS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    yield from serve(tmp_path_factory.mktemp("hotline-kamailio"), kamailio=True, workers=WORKERS)


def worker_pids(server: HotlineServer) -> dict[str, int]:
    health = server.health()
    assert health["status"] == "ok" and health["kamailio"]["state"] == "ready", health
    return {w["name"]: w["pid"] for w in health["workers"]}


def incoming(server: HotlineServer) -> int:
    return server.log().count(": incoming from ")


async def test_register_flow_through_the_front_door(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    assert len(worker_pids(server)) == WORKERS
    await register_and_hear_the_number(server, speaker_for(server.settings), tmp_path, "13800004001")


async def test_nine_calls_spread_over_three_workers_and_the_tenth_gets_503_with_retry_after(
        server: HotlineServer) -> None:
    capacity = server.health()["capacity_calls"]
    assert capacity == 9  # 3 workers x 3 calls (the pjsua2 wheel's cap of 4, one slot kept to answer 503)
    before = incoming(server)
    # pjsua2 callers hold at most 4 calls per process (same wheel): 3 processes of 3 calls, 6 s each
    holders = [asyncio.create_task(call(server.target, "wait_audio", "sleep:6", "hangup", calls=3,
                                        from_user=f"1380000{5000 + i}", timeout_s=40)) for i in range(3)]
    try:
        await wait_for(lambda: incoming(server) - before >= capacity, 20, "nine calls at the workers")
        [refused] = await call(server.target, timeout_s=15, from_user="13800005999")
    finally:
        results = [r for batch in await asyncio.gather(*holders) for r in batch]
    assert [r["answered"] for r in results] == [True] * capacity, results
    assert all(r["heard_audio"] and r["ended_by"] == "local" for r in results), results
    assert (refused["answered"], refused["status"]) == (False, 503), refused
    assert refused["retry_after"] == str(server.config["sip"]["retry_after_s"])

    db = db_of(server)
    await wait_for(lambda: len(db.rows("SELECT id FROM call_records WHERE caller_masked LIKE '138****50%'")) == 9,
                   10, "nine call records")
    records = db.rows("SELECT worker FROM call_records WHERE caller_masked LIKE '138****50%'")
    assert sorted(r["worker"] for r in records) == ["worker-0"] * 3 + ["worker-1"] * 3 + ["worker-2"] * 3


# (last path node expected, ticket expected, needs_callback) per step the caller hangs up at
HANG_UPS = {
    "welcome": ([], None),
    "main_menu": (["main"], None),
    "register_menu": (["main", "register"], None),
    "town": (["main", "register", "register.help", "register.town"], None),
    "instructions": (["main", "register", "register.help", "register.town", "register.record"], None),
    "recording": (["main", "register", "register.help", "register.town", "register.record"], 1),
    "number": (["main", "register", "register.help", "register.town", "register.record", "register.done"], 0),
}


async def test_a_caller_hanging_up_at_every_step_loses_nothing_and_kills_no_worker(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    speaker = speaker_for(server.settings)
    pids = worker_pids(server)
    speech = make_speech(tmp_path / "speech.wav", 1.5)
    welcome_s = audio.seconds(speaker(P.WELCOME))
    record = ["wait_audio", "dtmf:22#5", "sleep:1.0", f"play:{speech}"]
    steps = {
        "welcome": ["wait_audio", "sleep:0.5"],
        "main_menu": ["wait_audio", f"sleep:{welcome_s + 1.0:.1f}"],
        "register_menu": ["wait_audio", "dtmf:2", "sleep:1.0"],
        "town": ["wait_audio", "dtmf:22", "sleep:1.5"],
        "instructions": ["wait_audio", "dtmf:22#", "sleep:1.5"],
        "recording": record,
        "number": [*record, "dtmf:#", "sleep:1.0"],
    }
    phones = {name: f"1380000{6000 + i}" for i, name in enumerate(steps)}
    results = await asyncio.gather(*(call(server.target, *s, "hangup", from_user=phones[name], timeout_s=40)
                                     for name, s in steps.items()))
    assert all(r["answered"] and r["ended_by"] == "local" and not r["errors"] for [r] in results), results

    db = db_of(server)
    for name, (path, needs_callback) in HANG_UPS.items():
        phone = phones[name]
        [record_row] = await wait_for(lambda p=phone: db.call_records(f"138****{p[-4:]}"), 10, f"{name}: call record")
        tickets = db.hotline_tickets(phone)
        assert record_row["path"] == path, (name, record_row)
        if needs_callback is None:
            assert tickets == [] and record_row["ticket_id"] is None, (name, tickets)
            assert record_row["outcome"] == "abandoned", (name, record_row)
        else:
            [ticket] = tickets
            assert (ticket["kind"], ticket["needs_callback"]) == ("help", needs_callback), (name, ticket)
            assert record_row["ticket_id"] == ticket["id"] and record_row["outcome"] == "ticket_registered"
            assert ticket["recording_ref"] and (server.recordings_dir / ticket["recording_ref"]).is_file()

    assert worker_pids(server) == pids  # no worker died (or was restarted)
    assert all(w["restarts"] == 0 for w in server.health()["workers"])
    assert "restarting in" not in server.log() and "Traceback" not in server.log()


SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@pytest.mark.skipif(not Path(SIPP).exists(), reason="needs the Debian package sip-tester")
async def test_sipp_presses_a_key_from_its_shipped_rfc4733_capture(server: HotlineServer, tmp_path: Path) -> None:
    run = await run_sipp_client(("127.0.0.1", server.sip_port), str(SCENARIOS / "uac_pcap_dtmf.xml"), tmp_path,
                                calls=1, rate=1, call_length_ms=4000, timeout_s=20,
                                extra=["-mp", str(free_port())])
    assert run.returncode == 0, run.log
    db = db_of(server)
    [record] = await wait_for(lambda: db.call_records("138****7001"), 10, "the call record")
    assert record["path"] == ["main", "guides"], record  # the key from the capture was 3


@pytest.mark.skipif(shutil.which("baresip") is None, reason="needs the Debian package baresip")
async def test_baresip_calls_in_headless_and_is_answered(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    """baresip 1.0 runs without a terminal: ``-f DIR`` (config and accounts written here, audio from a WAV by the
    aufile module, no player), ``-e "/dial URI"`` dials at start-up and ``-t S`` quits (hanging up) after S s."""
    speech = make_speech(tmp_path / "speech.wav", 10)
    rtp = free_port() & ~1
    (tmp_path / "config").write_text(
        "poll_method poll\n"
        f"sip_listen 127.0.0.1:{free_port()}\n"
        f"audio_source aufile,{speech}\n"
        f"audio_alert aufile,{speech}\n"
        f"rtp_ports {rtp}-{rtp + 20}\n"
        "module_path /usr/lib/baresip/modules\n"
        "module g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\n", encoding="utf-8")
    (tmp_path / "accounts").write_text("<sip:13800008001@127.0.0.1>;regint=0;audio_codecs=PCMA\n", encoding="utf-8")
    seconds = audio.seconds(speaker_for(server.settings)(P.WELCOME)) + 2
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(tmp_path), "-e", f"/dial {server.target}", "-t", str(int(seconds)),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds + 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "Call established" in text and "terminated" in text, text[-3000:]
    rates = re.findall(r"audio=(\d+)/(\d+) \(bit/s\)", text)
    assert rates and int(rates[-1][0]) > 0 and int(rates[-1][1]) > 0, rates[-3:]  # media flowed both ways
    db = db_of(server)
    [record] = await wait_for(lambda: db.call_records("138****8001"), 10, "the call record")
    assert record["path"] == ["main"] and record["outcome"] == "abandoned", record
