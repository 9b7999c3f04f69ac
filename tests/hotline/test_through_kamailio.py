"""The hotline through its front door: ``hotline serve`` with Kamailio in front of three pjsua2 workers (3 calls
each with the pjsua2 wheel), real pjsua2 callers. The register flow end to end, more calls than one worker holds,
503 with Retry-After when every worker is full, callers hanging up at every step of the register flow, and other
SIP clients: sipp pressing a key from its shipped RFC 4733 capture, and baresip calling in headless, answered, and
pressing keys (RFC 4733) through its stdio UI for the menus to follow."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from menus.schema import Phrase as P
from menus.speech import Speaker
from tests.frontdoor.helpers import KAMAILIO, SIPP, free_port, run_sipp_client
from tests.hotline import audio
from tests.hotline.flows import register_and_hear_the_number
from tests.hotline.harness import HotlineServer, call, db_of, make_speech, serve, wait_for
from tests.sip.harness import UdpPeer, sdp_offer, sip_request, status_code
from tests.sip.rawcall import ABORTS_PJSUA, JUNK_INFO, RawCall, send_junk_keys
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


async def test_junk_keys_get_a_4xx_at_the_front_door_and_a_key_body_that_aborts_pjsua_is_rewritten(
        server: HotlineServer) -> None:
    pids = worker_pids(server)
    raw = await asyncio.to_thread(RawCall, server.sip_port, from_user="13800009001")
    try:
        codes = await asyncio.to_thread(send_junk_keys, raw)
        assert codes == [status for *_, status in JUNK_INFO]
        # pjsua 2.15 aborts on a dtmf-relay body that ends right after "Signal=" (with or without the key): the
        # front door refuses the one without a key and passes the key on in a body of its own.
        no_key, key_1 = ABORTS_PJSUA
        assert await asyncio.to_thread(raw.request, "INFO", no_key, "application/dtmf-relay") == 400
        assert await asyncio.to_thread(raw.request, "INFO", key_1, "application/dtmf-relay") == 200
        db = db_of(server)
        await wait_for(lambda: ": menu -> progress" in server.log(), 10, "key 1 choosing progress")
        assert await asyncio.to_thread(raw.request, "BYE") == 200
    finally:
        raw.close()
    [record] = await wait_for(lambda: db.call_records("138****9001"), 10, "the call record")
    assert record["path"][:2] == ["main", "progress"], record
    assert worker_pids(server) == pids and "Traceback" not in server.log()


async def test_the_front_door_answers_what_a_worker_must_not_see_refer_replaces_options_subscribe(
        server: HotlineServer) -> None:
    raw = await asyncio.to_thread(RawCall, server.sip_port, from_user="13800009002")
    intruder = UdpPeer()
    try:
        refer = "Refer-To: <sip:0085212345678@127.0.0.1:9>\r\nReferred-By: <sip:x@127.0.0.1>\r\n"
        assert await asyncio.to_thread(raw.request, "REFER", headers=refer) == 403
        ours, theirs = raw.tags()
        invite = sip_request("INVITE", server.sip_port, body=sdp_offer(40012, "8", "a=rtpmap:8 PCMA/8000\r\n"),
                             local_port=intruder.port,
                             extra=f"Replaces: {raw.call_id};to-tag={theirs};from-tag={ours}\r\n")
        intruder.send(invite, server.sip_port)
        responses = await asyncio.to_thread(intruder.responses, 5.0)
        assert [status_code(m) for m in responses if (status_code(m) or 0) >= 200] == [403], responses
        # inside the call, a keep-alive gets 200 and subscriptions or messages 405 (pjsua would answer all 500)
        assert await asyncio.to_thread(raw.request, "OPTIONS") == 200
        for method in ("SUBSCRIBE", "MESSAGE"):
            assert await asyncio.to_thread(raw.request, method, headers="Event: dialog\r\n") == 405
        assert await asyncio.to_thread(raw.info_key, "1") == 200  # the call goes on
        assert await asyncio.to_thread(raw.request, "BYE") == 200
    finally:
        raw.close()
        intruder.close()
    log = server.log()
    assert "REFER from caller" in log and "refused a transfer request" not in log  # Kamailio's refusal, not a worker's


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


# ----------------------------------------------------------------------------------------------------- baresip
BARESIP = shutil.which("baresip")
needs_baresip = pytest.mark.skipif(BARESIP is None, reason="needs the Debian package baresip")


def write_baresip_config(folder: Path, phone: str, speech: Path, *, stdio: bool = False) -> Path:
    """baresip 1.0's ``-f DIR`` written to ``folder``: SIP and RTP on free loopback ports, PCMA, what it says read
    from ``speech`` by the aufile module (no sound card, no player; the call ends when the file does, so make it
    longer than the call), one account ``phone`` that does not register. ``stdio``: the UI module that reads keys
    from stdin (baresip reads stdin in raw mode only on a terminal; on a pipe it says "could not setup terminal"
    and reads it all the same)."""
    rtp = free_port() & ~1
    (folder / "config").write_text(
        "poll_method poll\n"
        f"sip_listen 127.0.0.1:{free_port()}\n"
        f"audio_source aufile,{speech}\n"
        f"audio_alert aufile,{speech}\n"
        f"rtp_ports {rtp}-{rtp + 20}\n"
        "module_path /usr/lib/baresip/modules\n"
        "module g711.so\nmodule aufile.so\n"
        + ("module stdio.so\n" if stdio else "")
        + "module_app account.so\nmodule_app menu.so\n", encoding="utf-8")
    (folder / "accounts").write_text(f"<sip:{phone}@127.0.0.1>;regint=0;audio_codecs=PCMA\n", encoding="utf-8")
    return folder


def baresip_argv(folder: Path, target: str, quit_after_s: float) -> list[str]:
    """``-e "/dial URI"`` dials at start-up; ``-t S`` quits (hanging up) after S s."""
    assert BARESIP is not None
    return [BARESIP, "-f", str(folder), "-e", f"/dial {target}", "-t", str(int(quit_after_s))]


class Baresip:
    """A running baresip with the stdio UI: keys written to its stdin, its output (stdout, which baresip leaves
    unbuffered, and stderr, where the UI writes) gathered by a reader task as it comes, waited on with
    :meth:`expect`."""

    def __init__(self, proc: asyncio.subprocess.Process, log_file: Path) -> None:
        self.proc = proc
        self.log_file = log_file
        self.output = ""
        self._eof = False
        self._seen = 0  # where the next expect() looks from
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(4096):
            async with self._changed:
                self.output += chunk.decode(errors="replace")
                self._changed.notify_all()
        async with self._changed:
            self._eof = True
            self._changed.notify_all()

    async def expect(self, text: str, timeout_s: float) -> None:
        """Wait until baresip prints ``text`` after what the previous expect matched."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._eof or self.output.find(text, self._seen) >= 0), timeout_s)
            except TimeoutError:
                raise AssertionError(f"baresip did not print {text!r} within {timeout_s} s:\n"
                                     f"{self.output[-3000:]}") from None
            at = self.output.find(text, self._seen)
            assert at >= 0, f"baresip ended without printing {text!r}:\n{self.output[-3000:]}"
            self._seen = at + len(text)

    async def type(self, keys: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(keys.encode())
        await self.proc.stdin.drain()

    async def press(self, key: str, timeout_s: float = 5.0) -> None:
        """A key of the stdio UI during a call: baresip starts the RFC 4733 event at once and ends it when the UI
        reports the key released (250 ms later); the next key waits for that end."""
        await self.type(key)
        await self.expect(f"send DTMF digit end: '{key}'", timeout_s)

    async def quit(self, timeout_s: float = 15.0) -> int:
        """``/quit`` (hangs up what is left, then exits); its exit code."""
        await self.type("/quit\n")
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"baresip did not quit within {timeout_s} s:\n{self.output[-3000:]}") from None

    async def close(self) -> None:
        """Kill what did not quit, reap it, finish the reader, close stdin; the output is left in :attr:`log_file`."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # it leads its own session
            await self.proc.wait()
        await asyncio.wait_for(self._reader, 10)
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await self.proc.stdin.wait_closed()
        self.log_file.write_text(self.output, encoding="utf-8")


@contextlib.asynccontextmanager
async def baresip_with_stdio(folder: Path, target: str, *, quit_after_s: float) -> AsyncIterator[Baresip]:
    """baresip from ``folder`` (see :func:`write_baresip_config` with ``stdio=True``) dialling ``target``, stopped
    and reaped on the way out (its output in ``folder/baresip.log``); ``quit_after_s`` is only a backstop should
    the test not get to ``/quit``."""
    proc = await asyncio.create_subprocess_exec(
        *baresip_argv(folder, target, quit_after_s),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    phone = Baresip(proc, folder / "baresip.log")
    try:
        yield phone
    finally:
        await phone.close()


@needs_baresip
async def test_baresip_calls_in_headless_and_is_answered(
        server: HotlineServer, speaker_for: Callable[[Settings], Speaker], tmp_path: Path) -> None:
    """baresip 1.0 runs without a terminal (:func:`write_baresip_config`, :func:`baresip_argv`): it dials at
    start-up and quits, hanging up, after the welcome and a moment of the main menu."""
    write_baresip_config(tmp_path, "13800008001", make_speech(tmp_path / "speech.wav", 10))
    seconds = audio.seconds(speaker_for(server.settings)(P.WELCOME)) + 2
    proc = await asyncio.create_subprocess_exec(
        *baresip_argv(tmp_path, server.target, seconds),
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


@needs_baresip
async def test_baresip_presses_keys_by_rfc4733_and_the_menus_follow(server: HotlineServer, tmp_path: Path) -> None:
    """baresip driven through its stdio UI module on a pipe (:class:`Baresip`): ``-e "/dial URI"`` dials; during
    the call a digit written to stdin is a key press, which baresip sends as an RFC 4733 telephone-event (its SDP
    offers telephone-event; it prints "audio: send DTMF digit" and, when the UI releases the key, "... digit end";
    the worker logs "key received (rfc4733)", not "(info)"); ``/hangup`` and ``/quit`` written there are its long
    commands. (The menu module's ``/sndcode`` or the ctrl_tcp module would send digits too; stdin keeps it to
    one process and a pipe, with a realistic 250 ms key press.)

    Every step waits on an event with a deadline: baresip's output, then the worker's log (the flow's phase
    changes are logged at INFO; entering a node is not), then the call record in the store. So that the 3 is
    pressed while the main menu is the current node (not typed ahead over the welcome only), the caller first
    goes to the guides and back: 3 during the welcome (it barges in; the main menu takes the key), 9 in the
    guides list (back to the main menu, logged as "guides -> menu"), then 3 again, during the main menu."""
    phone, masked = "13800008002", "138****8002"
    write_baresip_config(tmp_path, phone, make_speech(tmp_path / "speech.wav", 30), stdio=True)
    db = db_of(server)

    def logged(call_id: str, what: str, times: int = 1) -> bool:
        return server.log().count(f"call {call_id}: {what}") >= times

    async with baresip_with_stdio(tmp_path, server.target, quit_after_s=90) as baresip:
        await baresip.expect("Call established", 15)
        found = await wait_for(lambda: re.search(rf"call (\S+): incoming from {re.escape(masked)} ", server.log()),
                               5, "the call at a worker")
        call_id = found.group(1)
        await wait_for(lambda: logged(call_id, "ringing -> answered"), 5, "the worker's answer confirmed")

        await baresip.press("3")  # over the welcome: the main menu answers it
        await wait_for(lambda: logged(call_id, "menu -> guides"), 10, "the flow at the guides")
        await baresip.press("9")  # in the guides list: back to the main menu
        await wait_for(lambda: logged(call_id, "guides -> menu"), 10, "the flow back at the main menu")
        await baresip.press("3")  # during the main menu
        await wait_for(lambda: logged(call_id, "menu -> guides", 2), 10, "the flow at the guides again")
        assert server.log().count(f"call {call_id}: key received (rfc4733)") == 3, server.log()[-3000:]

        await baresip.type("/hangup\n")
        # not "Call with ... terminated": baresip prints that summary only for calls of 1 s or more
        await baresip.expect("call: terminate call", 10)
        [record] = await wait_for(lambda: db.call_records(masked), 10, "the call record")
        assert await baresip.quit() == 0, baresip.output[-3000:]

    assert record["path"] == ["main", "guides", "main", "guides"], record
    assert record["outcome"] == "abandoned" and record["ticket_id"] is None, record
    assert logged(call_id, "caller hung up at guides") and logged(call_id, "finished"), server.log()[-3000:]
