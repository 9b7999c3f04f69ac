"""Test doubles behind the flow's Protocols, pipecat style: a scripted caller is the source, the flow is the
processor, and what it plays (a transcript) and stores (tickets, call records) is the sink.

``ScriptedChannel`` implements :class:`ivr.channel.CallChannel` with the key-buffer semantics of the pjsua2
channel (``ivr/pjcall.py``): a key stops a barge-in prompt and stays buffered for the next collect; a play with
a key already buffered returns it at once; a terminator is not part of the digits; record clears keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path

from ivr.channel import CallerId, CallerInput, CallHangup, InputKind, RecordEnd, Recording
from ivr.services import (
    CallRecordData,
    GuideFacts,
    QueryLocked,
    Registered,
    TicketNotFound,
    TicketSummary,
    WrongCode,
)

# --------------------------------------------------------------------------------------------- the script


@dataclasses.dataclass(frozen=True)
class Keys:
    """Keys the caller types when asked (may include '#', '*'; more than one answer's worth stays buffered)."""

    keys: str


@dataclasses.dataclass(frozen=True)
class Say:
    """A spoken keyword (must be in the step's grammar)."""

    word: str


@dataclasses.dataclass(frozen=True)
class Silence:
    """No input until the collect times out."""


@dataclasses.dataclass(frozen=True)
class Barge:
    """A key pressed during the next barge-in prompt."""

    key: str


@dataclasses.dataclass(frozen=True)
class Speak:
    """The caller talks after the tone for ``seconds``; the recording ends by ``ended_by``."""

    seconds: float
    ended_by: RecordEnd = RecordEnd.KEY


@dataclasses.dataclass(frozen=True)
class Agent:
    """The result of the transfer: did an agent answer?"""

    answers: bool


@dataclasses.dataclass(frozen=True)
class Hangup:
    """The caller hangs up (during whatever the flow does next)."""


@dataclasses.dataclass(frozen=True)
class Pause:
    """The next channel operation waits: ``reached`` is set, then it waits for ``resume``."""

    reached: asyncio.Event
    resume: asyncio.Event


Entry = Keys | Say | Silence | Barge | Speak | Agent | Hangup | Pause


def transcript(paths: Sequence[Path]) -> str:
    return "".join(p.name for p in paths)


class ScriptedChannel:
    """A :class:`~ivr.channel.CallChannel` driven by a script; ``heard`` is what the caller heard."""

    def __init__(self, script: Iterable[Entry], *, number: str | None = "13812345678", trusted: bool = False,
                 call_id: str = "call-1", timeline: list[str] | None = None, hangup_at: int | None = None) -> None:
        self.call_id = call_id
        self.caller = CallerId(number=number, trusted=trusted)
        self.hung_up = asyncio.Event()
        self.script: list[Entry] = list(script)
        self.heard: list[str] = []  # one transcript per play (what was played, even if cut short)
        self.collects: list[dict[str, object]] = []
        self.transfers: list[tuple[str, float]] = []
        self.recordings: list[Recording] = []
        self.record_calls: list[tuple[float, float, str]] = []  # (max_s, silence_s, stop_keys)
        self.flow_hung_up = False
        self.timeline = timeline if timeline is not None else []
        self._buffer = ""
        self.ops = 0  # channel operations so far
        self.hangup_at = hangup_at  # the caller hangs up during this operation (1-based)

    # ------------------------------------------------------------------------------------------- helpers

    @property
    def said(self) -> str:
        return "|".join(self.heard)

    async def _head(self, op: str) -> Entry | None:
        if self.hung_up.is_set():
            raise CallHangup()
        self.ops += 1
        if self.ops == self.hangup_at:
            self.hung_up.set()
            self.timeline.append(f"hangup during {op}")
            raise CallHangup()
        while self.script and isinstance(self.script[0], Pause):
            pause = self.script.pop(0)
            assert isinstance(pause, Pause)
            pause.reached.set()
            await pause.resume.wait()
        if self.script and isinstance(self.script[0], Hangup):
            self.script.pop(0)
            self.hung_up.set()
            self.timeline.append(f"hangup during {op}")
            raise CallHangup()
        return self.script[0] if self.script else None

    def _expect(self, op: str, entry: Entry | None, *kinds: type) -> Entry:
        if entry is None or not isinstance(entry, kinds):
            raise AssertionError(f"{op}: the script has {entry!r} next (heard so far: {self.said})")
        self.script.pop(0)
        return entry

    # ------------------------------------------------------------------------------------------ protocol

    async def play(self, prompts: Sequence[Path], *, barge_in: bool = True) -> str | None:
        head = await self._head("play")
        if barge_in and self._buffer:
            return self._buffer[0]
        text = transcript(prompts)
        self.heard.append(text)
        self.timeline.append(f"play {text}")
        if barge_in and isinstance(head, Barge):
            self.script.pop(0)
            self._buffer += head.key
            return head.key
        return None

    async def collect(self, *, max_digits: int, timeout_s: float, inter_digit_timeout_s: float,
                      terminators: str = "#", grammar: Sequence[str] = ()) -> CallerInput:
        self.collects.append({"max_digits": max_digits, "terminators": terminators, "grammar": tuple(grammar),
                              "timeout_s": timeout_s, "inter_digit_timeout_s": inter_digit_timeout_s})
        head = await self._head("collect")
        if not self._buffer and timeout_s <= 1.0:  # a short wait for a trailing '#': the caller is slower
            return CallerInput(InputKind.NO_INPUT)
        if not self._buffer:
            entry = self._expect("collect", head, Keys, Say, Silence)
            if isinstance(entry, Silence):
                return CallerInput(InputKind.NO_INPUT)
            if isinstance(entry, Say):
                assert entry.word in grammar, f"{entry.word!r} is not in the grammar {grammar!r}"
                return CallerInput(InputKind.SPEECH, entry.word, confidence=0.9)
            assert isinstance(entry, Keys)
            self._buffer = entry.keys
        elif isinstance(head, Keys) and len(self._buffer) < max_digits and not set(self._buffer) & set(terminators):
            # the rest of an entry whose first key stopped the prompt
            self.script.pop(0)
            self._buffer += head.keys
        digits = ""
        while self._buffer and len(digits) < max_digits:
            key, self._buffer = self._buffer[0], self._buffer[1:]
            if key in terminators:
                return CallerInput(InputKind.DIGITS, digits)
            digits += key
        return CallerInput(InputKind.DIGITS, digits) if digits else CallerInput(InputKind.NO_INPUT)

    async def record(self, path: Path, *, max_s: float, silence_s: float, stop_keys: str = "#") -> Recording:
        self.record_calls.append((max_s, silence_s, stop_keys))
        self._buffer = ""
        try:
            head = await self._head("record")
        except CallHangup:
            recording = Recording(path=path, duration_s=0.0, ended_by=RecordEnd.HANGUP)
        else:
            entry = self._expect("record", head, Speak)
            assert isinstance(entry, Speak)
            seconds = min(entry.seconds, max_s)
            path.parent.mkdir(parents=True, exist_ok=True)
            with wave.open(str(path), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(8000)
                wav.writeframes(b"\0\0" * round(8000 * seconds))
            recording = Recording(path=path, duration_s=seconds, ended_by=entry.ended_by)
            if entry.ended_by is RecordEnd.HANGUP:
                self.hung_up.set()
        self.recordings.append(recording)
        self.timeline.append(f"record {recording.ended_by.value}")
        return recording

    async def transfer(self, uri: str, *, timeout_s: float) -> bool:
        self.transfers.append((uri, timeout_s))
        entry = self._expect("transfer", await self._head("transfer"), Agent)
        assert isinstance(entry, Agent)
        return entry.answers

    async def hangup(self) -> None:
        self.flow_hung_up = True
        self.hung_up.set()


# ------------------------------------------------------------------------------------------ prompt source


PIECE = "~piece"  # folder of the fake's pieces (digits, numbers, dates, the tone): already trimmed
FRAGMENT = "~fragment"  # folder of the fake's fragments


def is_fragment(path: Path) -> bool:
    """A path of :meth:`TranscriptPrompts.fragment` (played without its silence)."""
    return path.parts[0] == FRAGMENT


def is_piece(path: Path) -> bool:
    return path.parts[0] == PIECE


class TranscriptPrompts:
    """A :class:`~ivr.prompt_source.PromptSource` whose paths are named by what they say; counts misses.

    Pieces live in the folder ``~piece`` and are their own fragments; the fragment of a sentence is the same name
    in the folder ``~fragment``, so a transcript (file names) reads the same with or without fragments."""

    def __init__(self) -> None:
        self.prepared: set[tuple[str | None, str]] = set()
        self.misses: list[tuple[str | None, str]] = []

    def prepare(self, texts: Iterable[tuple[str | None, str]]) -> None:
        self.prepared.update(texts)

    def text(self, text: str, key: str | None = None) -> Path:
        if (key, text) not in self.prepared:
            self.misses.append((key, text))
        return Path(text)

    def digits(self, digits: str) -> list[Path]:
        return [Path(PIECE, d) for d in digits]

    def number(self, value: int) -> list[Path]:
        return [Path(PIECE, str(value))]

    def date(self, value: dt.date) -> list[Path]:
        return [Path(PIECE, f"{value.month}月{value.day}日")]

    def tone(self) -> Path:
        return Path(PIECE, "[嘀]")

    def pause(self) -> Path:
        return Path(PIECE, "，")  # a pause reads as a comma in transcripts

    def fragment(self, path: Path) -> Path:
        return path if is_piece(path) or is_fragment(path) else Path(FRAGMENT, path)


# -------------------------------------------------------------------------------------------- services


class MemoryServices:
    """An in-memory :class:`~ivr.services.HotlineServices` with the store's query lock rules."""

    def __init__(self, *, timeline: list[str] | None = None, max_failures: int = 3,
                 now: dt.datetime = dt.datetime(2026, 11, 29, 6, 0, tzinfo=dt.UTC)) -> None:
        self.timeline = timeline if timeline is not None else []
        self.tickets: dict[str, tuple[TicketSummary, str]] = {}
        self.open_by_phone: dict[str, list[TicketSummary]] = {}
        self.guides: list[GuideFacts] = []
        self.registered: list[dict[str, object]] = []
        self.records: list[CallRecordData] = []
        self.failures: dict[str, int] = {}
        self.locked_until: dict[str, dt.datetime] = {}
        self.max_failures = max_failures
        self.now = now
        self.register_error: Exception | None = None
        self.queries: list[tuple[str, str]] = []
        self.guide_limits: list[int] = []

    def add(self, summary: TicketSummary, code: str, phone: str | None = None) -> None:
        self.tickets[summary.number] = (summary, code)
        if phone:
            self.open_by_phone.setdefault(phone, []).append(summary)

    async def open_tickets_for_caller(self, phone: str) -> Sequence[TicketSummary]:
        return list(self.open_by_phone.get(phone, []))

    async def query_ticket(self, number: str, extraction_code: str) -> TicketSummary:
        self.queries.append((number, extraction_code))
        until = self.locked_until.get(number)
        if until is not None and self.now < until:
            raise QueryLocked(until)
        if number not in self.tickets:
            raise TicketNotFound(number)
        summary, code = self.tickets[number]
        if extraction_code != code:
            self.failures[number] = self.failures.get(number, 0) + 1
            left = self.max_failures - self.failures[number]
            if left <= 0:
                self.locked_until[number] = self.now + dt.timedelta(minutes=30)
            raise WrongCode(max(left, 0))
        return summary

    async def register_ticket(self, **fields: object) -> Registered:
        if self.register_error is not None:
            raise self.register_error
        n = len(self.registered) + 1
        registered = Registered(number=f"2026{n:08d}", extraction_code=f"{n:03d}{n:03d}")
        self.registered.append({**fields, "number": registered.number})
        self.timeline.append(f"register {registered.number}")
        return registered

    async def top_guides(self, limit: int) -> Sequence[GuideFacts]:
        self.guide_limits.append(limit)
        return self.guides[:limit]

    async def save_call_record(self, record: CallRecordData) -> None:
        self.records.append(record)
        self.timeline.append(f"save {record.outcome.value}")
