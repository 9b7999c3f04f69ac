"""The register flow as the end-to-end tests drive and check it (used with and without Kamailio)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from menus.schema import Phrase as P
from menus.speech import Speaker
from tests.hotline import audio
from tests.hotline.harness import HotlineServer, call, db_of, make_speech, wait_for
from tickets.numbers import check_extraction_code

DIGITS = "0123456789"


def digit_templates(speaker: Speaker) -> dict[str, Any]:
    """Each digit as played inside the read-back (a piece: its own fragment)."""
    played = [speaker.prompts.fragment(p) for p in speaker.prompts.digits(DIGITS)]
    return {d: audio.load(p) for d, p in zip(DIGITS, played, strict=True)}


def numbers_prompts(speaker: Speaker) -> list[Path]:
    """What the worker plays after registering (any digits: their WAVs are not used from here)."""
    return speaker.ticket_numbers("0" * 12, "0" * 6, lead=P.REGISTERED)


def as_played(speaker: Speaker, phrase: P, played: list[Path]) -> Path:
    """The WAV of ``phrase`` as it is in ``played``: its fragment inside a sentence, else the whole file."""
    [whole] = speaker(phrase)
    fragment = speaker.prompts.fragment(whole)
    for path in (fragment, whole):
        if path in played:
            return path
    raise AssertionError(f"{phrase} is not among the prompts played: {played}")


def numbers_seconds(speaker: Speaker) -> float:
    """An upper bound of how long "已登记。工单编号是…再说一遍…提取码是…" lasts (whatever the digits)."""
    digits = speaker.prompts.digits(DIGITS)
    longest = max(audio.seconds([p]) for p in digits)
    fixed = [p for p in numbers_prompts(speaker)[:-1] if p not in digits]  # up to the last digit of the code
    return audio.seconds(fixed) + 30 * longest


def read_back(recording: Path, speaker: Speaker) -> dict[str, Any]:
    """Decode the ticket number (twice) and the extraction code from the caller's recording."""
    heard = audio.load(recording)
    digits = digit_templates(speaker)
    played = numbers_prompts(speaker)
    anchor, again, code_is = (audio.load(as_played(speaker, p, played)) for p in (
        P.TICKET_NUMBER_IS, P.TICKET_NUMBER_AGAIN, P.EXTRACTION_CODE_IS))
    first_at = audio.phrase_end(anchor, heard)
    first = audio.decode(heard, first_at.offset, 12, digits)
    again_at = audio.phrase_end(again, heard, first.end)
    second = audio.decode(heard, again_at.offset, 12, digits)
    code_at = audio.phrase_end(code_is, heard, second.end)
    code = audio.decode(heard, code_at.offset, 6, digits)
    return {"anchors": (first_at, again_at, code_at), "first": first, "second": second, "code": code}


def assert_recording(server: HotlineServer, ticket: dict[str, Any], min_s: float) -> Path:
    assert ticket["recording_ref"], ticket
    path = server.recordings_dir / ticket["recording_ref"]
    assert path.is_file() and path.resolve().is_relative_to(server.recordings_dir.resolve()), path
    samples = audio.load(path)
    assert len(samples) / audio.RATE_HZ >= min_s
    assert audio.rms(samples) > 300, f"{path} is silent"
    return path


async def register_and_hear_the_number(server: HotlineServer, speaker: Speaker, tmp_path: Path, phone: str) -> None:
    """Main 2 -> 1 complaint -> # (no town) -> 5 (start recording now) -> speak -> #; then check the ticket and
    that its number and extraction code were read back (decoded from what the caller heard), after the commit."""
    db = db_of(server)
    speech = make_speech(tmp_path / "speech.wav", 2.5)
    seen: dict[str, Any] = {}

    async def committed() -> bool:
        rows = db.hotline_tickets(phone)
        if rows:
            seen.setdefault("at", time.time())
            seen["ticket"] = rows[0]
        return bool(rows)

    # 2 register, 1 complaint, # skip the town, 5 starts the recording at once; speak; # ends it.
    caller = asyncio.create_task(call(
        server.target, "wait_audio", "dtmf:21#5", "sleep:1.0", f"play:{speech}", "dtmf:#",
        f"sleep:{numbers_seconds(speaker) + 0.5:.1f}", "hangup",
        record_dir=tmp_path / "heard", from_user=phone, timeout_s=90))
    try:
        await wait_for(committed, 60, "the ticket to be committed")
    finally:
        [result] = await caller
    assert result["answered"] and result["errors"] == [] and result["ended_by"] == "local", result

    ticket = seen["ticket"]
    assert (ticket["channel"], ticket["kind"], ticket["status"]) == ("hotline", "complaint", "registered")
    assert ticket["needs_callback"] == 0 and ticket["town_code"] is None
    assert_recording(server, ticket, min_s=2.5)

    decoded = read_back(Path(result["recording"]), speaker)
    assert all(hit.score > 0.8 for hit in decoded["anchors"]), decoded["anchors"]
    assert decoded["first"].symbols == ticket["number"], decoded["first"]
    assert decoded["second"].symbols == ticket["number"], decoded["second"]
    # right digits score ~1.0 (0.8 with a jitter-buffer slip inside), the runner-up at least 0.35 less
    pieces = [decoded[k] for k in ("first", "second", "code")]
    assert min(s for d in pieces for s in d.scores) > 0.7, decoded
    assert min(m for d in pieces for m in d.margins) > 0.15, decoded
    assert check_extraction_code(decoded["code"].symbols, ticket["code_salt"], ticket["code_hash"]), decoded["code"]
    # committed (visible to another process) before the first digit of the number reached the caller
    first_digit_heard_at = result["answered_at"] + decoded["first"].start.seconds
    assert seen["at"] <= first_digit_heard_at, (seen["at"], first_digit_heard_at)

    [record] = await wait_for(lambda: db.call_records(f"{phone[:3]}****{phone[-4:]}"), 10, "the call record")
    assert record["outcome"] == "ticket_registered" and record["ticket_id"] == ticket["id"]
    assert record["path"][-4:] == ["register.complaint", "register.town", "register.record", "register.done"]
