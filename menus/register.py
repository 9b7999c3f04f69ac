"""Register a complaint, request, suggestion, consultation or report: town/street, a recorded message, then
the ticket is committed and its number and extraction code read to the caller."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from ivr.channel import CallerInput, CallHangup, InputKind, RecordEnd, Recording
from menus.dialog import NO_MATCH, CallSession, Escalate, FlowDeps, Phase, Step, Why, _NoMatch
from menus.schema import KeywordSet, Phrase
from tickets.enums import CallOutcome, Kind

__all__ = ["MIN_RECORDING_S", "recording_path", "run_register"]

logger = logging.getLogger(__name__)

P = Phrase
MIN_RECORDING_S = 1.0  # shorter (and not cut by a hang-up) means the caller said nothing: ask again
_TOWN_SUFFIXES = ("街道", "镇", "乡")
_NEXT_PAGE = "next page"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")

Town = tuple[str, str]


def recording_path(recordings_dir: Path, call_id: str, n: int) -> Path:
    """``<recordings_dir>/<call_id>-<n>.wav`` with characters unsafe in a file name replaced."""
    return recordings_dir / f"{_UNSAFE.sub('_', call_id)}-{n}.wav"


def _short_name(name: str) -> str | None:
    for suffix in _TOWN_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


def _pages(towns: Sequence[Town]) -> list[Sequence[Town]]:
    """Keys 1-9 on one page when they fit, else pages of 8 with 9 for the next page."""
    if len(towns) <= 9:
        return [towns]
    return [towns[i : i + 8] for i in range(0, len(towns), 8)]


async def _choose_town(deps: FlowDeps, s: CallSession) -> Town | None:
    if not deps.towns:
        return None
    say = s.speaker
    s.enter("register.town")
    pages = _pages(deps.towns)
    by_word: dict[str, Town] = {}
    for town in deps.towns:
        by_word.setdefault(town[1], town)
        short = _short_name(town[1])
        if short:
            by_word.setdefault(short, town)
    skip_words = s.menu.words(KeywordSet.SKIP)
    grammar = (*by_word, *skip_words)
    page_no = 0
    while True:
        page = pages[page_no]
        prompt = say(P.TOWN_INTRO) if page_no == 0 else []
        for key, (_, name) in enumerate(page, start=1):
            prompt += say.item(name, key)
        if len(pages) > 1:
            prompt += say(P.TOWN_MORE if page_no + 1 < len(pages) else P.TOWN_FIRST_PAGE)
        prompt += say(P.TOWN_SKIP)

        def accept(a: CallerInput, page: Sequence[Town] = page) -> Town | str | _NoMatch | None:
            if a.kind is InputKind.SPEECH:
                if a.value in skip_words:
                    return None
                return by_word.get(a.value, NO_MATCH)
            if a.value in ("", "#"):
                return None
            if a.value == "9" and len(pages) > 1:
                return _NEXT_PAGE
            if a.value.isdigit() and 1 <= int(a.value) <= len(page):
                return page[int(a.value) - 1]
            return NO_MATCH

        answer = await s.ask(Step(node="register.town", prompt=prompt, terminators="", grammar=grammar), accept)
        if answer == _NEXT_PAGE:
            page_no = (page_no + 1) % len(pages)
            continue
        assert answer is None or isinstance(answer, tuple)
        logger.info("call %s: town %s", s.call_id, answer[0] if answer else "skipped")
        return answer


async def _record(deps: FlowDeps, s: CallSession) -> Recording:
    say = s.speaker
    s.enter("register.record")
    apology: list[Path] = []
    failures = 0
    while True:
        await s.say([*apology, *say(P.RECORD_INSTRUCTIONS)])
        if s.key_buffered:  # a key during the instructions: 0 agent, * repeat, anything else starts at once
            answer = await s.collect(Step(node="register.record", prompt=()))
            if answer is None:  # a stray '#': the instructions again
                continue
            if s.wants_agent(answer):
                raise Escalate("register.record", Why.ASKED)
            if s.wants_repeat(answer):
                apology = []
                continue
        await s.say([s.speaker.prompts.tone()], barge_in=False)
        s.recordings += 1
        path = recording_path(deps.recordings_dir, s.call_id, s.recordings)
        recording = await s.channel.record(
            path, max_s=deps.ivr.recording_max_s, silence_s=deps.ivr.recording_silence_s, stop_keys="#"
        )
        logger.info("call %s: recorded %.1f s to %s (%s)", s.call_id, recording.duration_s, recording.path.name,
                    recording.ended_by.value)
        if recording.ended_by is RecordEnd.HANGUP or recording.duration_s >= MIN_RECORDING_S:
            return recording
        failures += 1
        if failures >= deps.ivr.max_retries:
            raise Escalate("register.record", Why.NO_INPUT)
        apology = say(P.RECORD_EMPTY)


async def run_register(deps: FlowDeps, s: CallSession, kind: Kind) -> str:
    """Returns the node to go on with (the main menu); a hang-up while recording still leaves a ticket."""
    s.enter(f"register.{kind.value}", Phase.REGISTER)
    s.note(f"登记{kind.label_zh}")
    town = await _choose_town(deps, s)
    recording = await _record(deps, s)
    hung_up = recording.ended_by is RecordEnd.HANGUP
    registered = await deps.services.register_ticket(
        call_id=s.call_id,
        kind=kind,
        town_code=town[0] if town else None,
        caller_phone=s.channel.caller.number,
        recording=recording.path if recording.duration_s > 0 else None,
        recording_s=recording.duration_s,
        needs_callback=hung_up,
    )
    s.ticket_number = registered.number
    s.promote(CallOutcome.TICKET_REGISTERED)
    s.note(f"已登记工单{registered.number}")
    logger.info("call %s: registered ticket %s (%s)%s", s.call_id, registered.number, kind.value,
                ", caller hung up while recording" if hung_up else "")
    if hung_up:
        raise CallHangup()
    numbers = s.speaker.ticket_numbers(registered.number, registered.extraction_code, lead=P.REGISTERED)
    return await s.after_service("register.done", numbers, P.AFTER_REGISTER, intro_barge_in=False)
