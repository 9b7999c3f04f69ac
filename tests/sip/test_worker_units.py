"""Pieces of the worker that need no call: SIP header reading, caller ID policy, masking, capacity, audio helpers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from ivr.capacity import answer_capacity
from ivr.media import DigitBuffer, MediaError, PromptIndex, frame_rms, read_pcm, write_wav
from ivr.sipmsg import SipHeaders, caller_id, mask_number, parse_source_host, uri_user
from tickets.config import Trunk

INVITE = (
    "INVITE sip:96536@10.0.0.5 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK1\r\n"
    "f: \"Zhang\" <sip:13900001111@10.1.2.3>;tag=1\r\n"
    "To: <sip:96536@10.0.0.5>\r\n"
    "P-Asserted-Identity: <sip:+8613812345678@trunk.example;user=phone>,\r\n <tel:+8613812345678>\r\n"
    "Call-ID: abc\r\n\r\nv=0\r\n"
)
TRUNKS = (Trunk(name="carrier", network="10.1.0.0/16"), Trunk(name="pbx", network="192.168.0.0/16",
                                                               trusts_identity=False))


def test_headers_parse_compact_forms_and_folding() -> None:
    headers = SipHeaders.parse(INVITE)
    assert headers.start_line.startswith("INVITE ")
    assert headers.get("From") == "\"Zhang\" <sip:13900001111@10.1.2.3>;tag=1"
    assert "tel:+8613812345678" in (headers.get("p-asserted-identity") or "")
    assert SipHeaders.parse(bytes(headers).decode()).get("call-id") == "abc"


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty SIP message"),
    ("INVITE sip:x SIP/2.0\r\nNoColonHere\r\n\r\n", "SIP header line without a colon: 'NoColonHere'"),
])
def test_headers_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        SipHeaders.parse(text)


def test_uri_user_and_source_host() -> None:
    assert uri_user("<sip:13900001111@h;user=phone>") == "13900001111"
    assert uri_user("<tel:+861234;phone-context=x>") == "+861234"
    assert uri_user("Anonymous <sip:@anonymous.invalid>") is None
    assert uri_user(None) is None
    assert parse_source_host("10.1.2.3:5060") == "10.1.2.3"
    assert parse_source_host("[::1]:5060") == "::1"


def test_caller_id_trusts_pai_only_from_trusted_trunks() -> None:
    assert caller_id(INVITE, "10.1.2.3:5060", TRUNKS).number == "+8613812345678"
    assert caller_id(INVITE, "10.1.2.3:5060", TRUNKS).trusted is True
    from_pbx = caller_id(INVITE, "192.168.1.1:5060", TRUNKS)
    assert (from_pbx.number, from_pbx.trusted) == ("13900001111", False)
    stranger = caller_id(INVITE, "8.8.8.8:5060", TRUNKS)
    assert (stranger.number, stranger.trusted) == ("13900001111", False)
    no_pai = INVITE.replace("P-Asserted-Identity", "X-Other")
    assert caller_id(no_pai, "10.1.2.3:5060", TRUNKS).trusted is False
    assert caller_id("garbage", "10.1.2.3:5060", TRUNKS).number is None
    named = INVITE.replace("sip:13900001111@", "sip:alice@")
    assert caller_id(named, "8.8.8.8:1", TRUNKS).number is None


def test_mask_number() -> None:
    assert mask_number("13812345678") == "138****5678"
    assert mask_number("+8613812345678") == "138****5678"
    assert mask_number(None) == "anonymous"
    assert "123" not in mask_number("12345")


def test_answer_capacity_keeps_a_slot_and_honours_the_setting() -> None:
    assert answer_capacity(4, 0) == 3
    assert answer_capacity(4, 2) == 2
    assert answer_capacity(4, 10) == 3
    assert answer_capacity(1, 0) == 1
    assert answer_capacity(512, 0) == 511


def test_library_call_cap_is_read_from_the_running_library() -> None:
    """In a separate process (pjsua2 is a process-wide singleton): the build clamps maxCalls to 4 silently."""
    code = (
        "import json, pjsua2 as pj\n"
        "from ivr.capacity import library_call_cap\n"
        "out = {}\n"
        "for asked in (64, 2):\n"
        "    ep = pj.Endpoint(); ep.libCreate(); cfg = pj.EpConfig()\n"
        "    cfg.uaConfig.maxCalls = asked; cfg.uaConfig.threadCnt = 0; cfg.medConfig.threadCnt = 0\n"
        "    cfg.logConfig.consoleLevel = 0; cfg.logConfig.level = 0\n"
        "    ep.libInit(cfg); out[asked] = [library_call_cap(), cfg.uaConfig.maxCalls]; ep.libDestroy(); del ep\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    assert measured == {"64": [4, 64], "2": [2, 2]}


def _wav(path: Path, rate: int, channels: int, frames: bytes) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def test_prompt_index_reads_lengths_and_rejects_other_formats(tmp_path: Path) -> None:
    index = PromptIndex(max_entries=2)
    ok = _wav(tmp_path / "ok.wav", 8000, 1, b"\x01\x00" * 500)
    assert index.samples(ok) == 500
    assert index.samples(ok) == 500
    wide = _wav(tmp_path / "wide.wav", 16000, 1, b"\x00\x00" * 10)
    with pytest.raises(MediaError, match=r"expected 8000 Hz mono 16-bit WAV, got 16000 Hz, 1 channel\(s\), 16-bit$"):
        index.samples(wide)
    with pytest.raises(MediaError, match="cannot read WAV"):
        index.samples(tmp_path / "missing.wav")
    with pytest.raises(MediaError, match=r"expected 8000 Hz mono 16-bit WAV, got 8000 Hz, 2 channel\(s\), 16-bit$"):
        read_pcm(_wav(tmp_path / "stereo.wav", 8000, 2, b"\x00\x00" * 10))
    for n in range(3):  # bounded: the oldest entries go
        index.samples(_wav(tmp_path / f"p{n}.wav", 8000, 1, b"\x00\x00" * (n + 1)))
    assert len(index._entries) == 2


def test_frame_rms_and_write_wav(tmp_path: Path) -> None:
    assert frame_rms(b"") == 0.0
    assert frame_rms((1000).to_bytes(2, "little", signed=True) * 160) == pytest.approx(1000)
    path = tmp_path / "sub" / "rec.wav"
    write_wav(path, b"\x00\x00" * 8000)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes()) == (8000, 1, 2, 8000)


async def test_digit_buffer_orders_and_wakes() -> None:
    buf = DigitBuffer()
    waiter = asyncio.ensure_future(buf.wait())
    await asyncio.sleep(0)
    buf.push("1")
    await asyncio.wait_for(waiter, 1)
    buf.push("2")
    buf.unshift("0")
    assert [buf.pop(), buf.pop(), buf.pop(), buf.pop()] == ["0", "1", "2", None]


def test_digit_buffer_keeps_a_bounded_number_of_keys_but_always_takes_the_wake_up() -> None:
    buf = DigitBuffer(max_keys=3)
    assert [buf.push(k) for k in "12345"] == [True, True, True, False, False]
    assert buf.dropped == 2
    assert buf.push("")  # the hang-up wake-up is never dropped
    assert [buf.pop() for _ in range(5)] == ["1", "2", "3", "", None]
    assert buf.push("6") and buf.pop() == "6"


def test_caller_id_behind_the_front_door_trusts_only_kamailio() -> None:
    front = ("127.0.0.1",)
    via_kamailio = caller_id(INVITE, "127.0.0.1:5060", TRUNKS, front_door_hosts=front)
    assert (via_kamailio.number, via_kamailio.trusted) == ("+8613812345678", True)
    direct = caller_id(INVITE, "10.1.2.3:5060", TRUNKS, front_door_hosts=front)
    assert (direct.number, direct.trusted) == ("13900001111", False)
    stripped = INVITE.replace("P-Asserted-Identity", "X-Other")
    assert caller_id(stripped, "127.0.0.1:5060", TRUNKS, front_door_hosts=front).trusted is False
