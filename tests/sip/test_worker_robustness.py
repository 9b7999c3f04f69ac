"""Hostile and odd input to a real worker: junk and broken SIP, an offer with no common codec, OPTIONS health
checks, RTP from a stranger, and the key-to-prompt latency."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from tests.sip.harness import (
    UdpPeer,
    WorkerProcess,
    run_caller,
    sdp_offer,
    sip_request,
    status_code,
    wav_rms,
)

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def _final(peer: UdpPeer) -> int | None:
    codes = [status_code(m) for m in peer.responses(3.0)]
    finals = [c for c in codes if c is not None and c >= 200]
    return finals[-1] if finals else None


def test_options_health_check_gets_200(worker: WorkerProcess) -> None:
    peer = UdpPeer()
    try:
        peer.send(sip_request("OPTIONS", worker.port, local_port=peer.port), worker.port)
        assert _final(peer) == 200
    finally:
        peer.close()


def test_offer_without_a_common_codec_gets_488(worker: WorkerProcess) -> None:
    peer = UdpPeer()
    try:
        body = sdp_offer(40000, "18", "a=rtpmap:18 G729/8000\r\n")
        peer.send(sip_request("INVITE", worker.port, body=body, local_port=peer.port), worker.port)
        assert _final(peer) == 488
    finally:
        peer.close()
    (result,) = run_caller(worker.target, "wait_audio", "hangup")
    assert result["answered"]


def test_disabled_codec_only_offer_gets_488(worker_factory) -> None:  # noqa: ANN001 - fixture
    worker = worker_factory(sip={"codecs": ["PCMA"]})
    (result,) = run_caller(worker.target, "wait_audio", "hangup", codecs="PCMU")
    assert not result["answered"] and result["status"] == 488, result
    (ok,) = run_caller(worker.target, "wait_audio", "hangup", codecs="PCMU,PCMA")
    assert ok["answered"], ok


MALFORMED = [
    b"\x00\x01\x02garbage\xff\xfe" * 20,
    b"INVITE\r\n\r\n",
    b"INVITE sip:96536@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n",  # no Via/From/To/Call-ID/CSeq
    b"HELLO WORLD SIP/2.0\r\n" + b"X" * 3000 + b"\r\n\r\n",
]


def _broken_invites(port: int, local_port: int) -> list[tuple[str, bytes]]:
    """(Call-ID, message) pairs, each a different breakage."""
    out = []
    edits = [
        (b"CSeq: 1 INVITE", b"CSeq: banana INVITE"),
        (b"From: <sip:13900001111@127.0.0.1>", b"From: <<<>>>"),
        (b"\r\nc=IN IP4 127.0.0.1", b"\r\nc=IN IP4 not-an-address"),
        (b"m=audio 40002 RTP/AVP 8", b"m=audio -5 RTP/AVP"),
        (b"v=0\r\n", b"v=0\r\nthis is not sdp\r\n"),
    ]
    for old, new in edits:
        call_id = uuid.uuid4().hex
        good = sip_request("INVITE", port, body=sdp_offer(40002, "8", "a=rtpmap:8 PCMA/8000\r\n"),
                           local_port=local_port, call_id=call_id)
        assert old in good
        out.append((call_id, good.replace(old, new)))
    return out


def test_malformed_sip_gets_4xx_or_is_dropped_and_the_worker_lives(worker: WorkerProcess) -> None:
    peer = UdpPeer()
    try:
        for junk in MALFORMED:
            peer.send(junk, worker.port)
        for call_id, broken in _broken_invites(worker.port, peer.port):
            peer.send(broken, worker.port)
            codes = [status_code(m) for m in peer.responses(1.0, call_id=call_id)]
            finals = [c for c in codes if c is not None and c >= 200]
            assert all(400 <= c < 500 for c in finals), (broken[:60], codes)
        # junk over TCP too
        with socket.create_connection(("127.0.0.1", worker.port), timeout=3) as tcp:
            tcp.sendall(b"\xff" * 500 + b"\r\n\r\nINVITE x\r\nContent-Length: abc\r\n\r\n")
        peer.send(sip_request("OPTIONS", worker.port, local_port=peer.port), worker.port)
        assert _final(peer) == 200
    finally:
        peer.close()
    assert worker.alive()
    (result,) = run_caller(worker.target, "wait_audio", "dtmf:4#", "sleep:0.5", "hangup")
    assert result["answered"] and not result["errors"], result
    worker.wait_log("digits=4")
    assert "Traceback" not in worker.log()


def test_rtp_from_a_stranger_does_not_disturb_the_call(worker: WorkerProcess, tone: Path, tmp_path: Path) -> None:
    stop = threading.Event()

    def flood() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            seq = 0
            while not stop.is_set():
                seq += 1
                header = bytes([0x80, 8]) + (seq & 0xFFFF).to_bytes(2, "big") + (seq * 160).to_bytes(4, "big")
                packet = header + (0xDEADBEEF).to_bytes(4, "big") + b"\xd5" * 160
                for port in range(worker.rtp_start, worker.rtp_start + 8):
                    sock.sendto(packet, ("127.0.0.1", port))
                    sock.sendto(b"junk" * 10, ("127.0.0.1", port))
                stop.wait(0.01)

    thread = threading.Thread(target=flood, name="stranger-rtp")
    thread.start()
    try:
        (result,) = run_caller(worker.target, "wait_audio", "sleep:1", "dtmf:9#", "wait_silence:0.8",
                               f"play:{tone}", "dtmf:#", "wait_audio", "wait_silence:1", record_dir=tmp_path / "heard")
    finally:
        stop.set()
        thread.join()
    assert result["answered"] and not result["errors"], result
    log = worker.wait_log("ended_by=")
    assert "digits=9" in log and "ended_by=key" in log
    saved = Path(log.split("recording=")[1].split()[0])
    assert wav_rms(saved) > 1000, "the caller's audio was replaced by the stranger's"
    assert wav_rms(Path(result["recording"]), 0.0, 1.0) > 500


def test_key_to_prompt_latency_is_small(worker: WorkerProcess) -> None:
    """Barge-in: from sending a key (RFC 4733) to the greeting going quiet at the caller."""
    (result,) = run_caller(worker.target, "wait_audio", "sleep:1.5", "dtmf:1", "wait_silence:0.06", "hangup")
    assert result["answered"] and not result["errors"], result
    sent, quiet = result["step_times"][2], result["step_times"][3]
    latency_s = quiet - sent - 0.06
    print(f"key-to-silence latency: {latency_s * 1000:.0f} ms")
    # includes the RTP event's travel, one worker poll, one conference frame and the caller's jitter buffer
    assert latency_s < 0.25, result


def test_speech_seam_gets_the_callers_frames(worker_factory, tone: Path) -> None:  # noqa: ANN001 - fixture
    """A handler injected into Worker asks collect(grammar=...); the recogniser hook hears the caller's audio."""
    script = Path(__file__).with_name("speech_worker.py")
    worker = worker_factory(script=script)
    (result,) = run_caller(worker.target, "sleep:0.5", f"play:{tone}", "sleep:1", timeout_s=20)
    assert result["answered"], result
    assert "SPEECH speech 投诉" in worker.wait_log("SPEECH")


def test_sdp_and_contact_carry_the_public_address(worker_factory) -> None:  # noqa: ANN001 - fixture
    worker = worker_factory(sip={"public_address": "127.0.0.2"})
    peer = UdpPeer()
    call_id = uuid.uuid4().hex
    try:
        invite = sip_request("INVITE", worker.port, body=sdp_offer(40004, "8", "a=rtpmap:8 PCMA/8000\r\n"),
                             local_port=peer.port, call_id=call_id)
        peer.send(invite, worker.port)
        ok = [m for m in peer.responses(5.0, call_id=call_id) if status_code(m) == 200]
        assert ok, "no 200 OK"
        answer = ok[0]
        assert "c=IN IP4 127.0.0.2" in answer
        contact = next(line for line in answer.split("\r\n") if line.lower().startswith(("contact:", "m:")))
        assert "127.0.0.2" in contact
        to = next(line for line in answer.split("\r\n") if line.lower().startswith(("to:", "t:")))
        head = invite.decode().split("\r\n\r\n", 1)[0]
        for method, cseq in (("ACK", "1 ACK"), ("BYE", "2 BYE")):
            lines = [f"{method} sip:96536@127.0.0.1:{worker.port} SIP/2.0"]
            for line in head.split("\r\n")[1:]:
                name = line.split(":", 1)[0].lower()
                if name == "to":
                    line = to
                elif name == "cseq":
                    line = f"CSeq: {cseq}"
                elif name == "via":
                    line = f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport"
                elif name in ("content-type", "content-length"):
                    continue
                lines.append(line)
            peer.send(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(), worker.port)
        codes = [status_code(m) for m in peer.responses(3.0, call_id=call_id)]
        assert 200 in codes  # the BYE's 200 (and maybe retransmitted 200s of the INVITE)
    finally:
        peer.close()
    worker.wait_log("finished")


def test_port_in_use_prints_failed_and_exits_1(worker: WorkerProcess) -> None:
    proc = subprocess.run([sys.executable, "-m", "ivr.worker", "--config", str(worker.config_path), "--index", "0",
                           "--demo"], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 1
    assert proc.stdout.startswith("FAILED cannot start pjsua2 on 127.0.0.1:"), proc.stdout
    assert worker.alive()


def test_bad_config_prints_failed_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sip:\n  codecs: [OPUS]\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "ivr.worker", "--config", str(bad), "--index", "0"],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    assert proc.stdout.startswith("FAILED configuration error: sip.codecs[0]: expected one of"), proc.stdout
