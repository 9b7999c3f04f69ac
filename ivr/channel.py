"""What a call flow can do with a call: the contract between ``menus.flow`` and the pjsua2 call worker.

The worker implements :class:`CallChannel` for a live call; every "press a key" step goes through
:meth:`CallChannel.collect`, which returns a :class:`CallerInput` that is either digits or, once speech
recognition is plugged in, a spoken keyword from the grammar the step offers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "CallChannel",
    "CallHangup",
    "CallerId",
    "CallerInput",
    "InputKind",
    "RecordEnd",
    "Recording",
]


class CallHangup(Exception):
    """The caller hung up; raised by any channel operation once the call is gone."""


class InputKind(enum.Enum):
    DIGITS = "digits"
    SPEECH = "speech"
    NO_INPUT = "no_input"


@dataclasses.dataclass(frozen=True, slots=True)
class CallerInput:
    """One answer from the caller: keys pressed, or a keyword recognised from speech."""

    kind: InputKind
    value: str = ""
    confidence: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class CallerId:
    """The calling number and whether a trusted trunk asserted it (P-Asserted-Identity)."""

    number: str | None
    trusted: bool


class RecordEnd(enum.Enum):
    KEY = "key"
    SILENCE = "silence"
    MAX_LENGTH = "max_length"
    HANGUP = "hangup"


@dataclasses.dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    duration_s: float
    ended_by: RecordEnd


@runtime_checkable
class CallChannel(Protocol):
    """A live call as the flow sees it. All waits end early with :class:`CallHangup` when the caller hangs up."""

    call_id: str
    caller: CallerId
    hung_up: asyncio.Event

    async def play(self, prompts: Sequence[Path], *, barge_in: bool = True) -> str | None:
        """Play WAV files in order. With ``barge_in`` a key stops playback and is returned (and kept for
        the next :meth:`collect`); otherwise return ``None`` when playback ends."""

    async def collect(
        self,
        *,
        max_digits: int,
        timeout_s: float,
        inter_digit_timeout_s: float,
        terminators: str = "#",
        grammar: Sequence[str] = (),
    ) -> CallerInput:
        """Wait for keys (up to ``max_digits``, ending on a terminator) or, where ``grammar`` is given and
        recognition is available, for one of those spoken phrases. ``NO_INPUT`` after ``timeout_s``."""

    async def record(self, path: Path, *, max_s: float, silence_s: float, stop_keys: str = "#") -> Recording:
        """Record the caller to a WAV file until a stop key, a silence of ``silence_s``, ``max_s`` or hang-up.
        Never raises :class:`CallHangup`: a hang-up ends the recording with ``RecordEnd.HANGUP``."""

    async def transfer(self, uri: str, *, timeout_s: float) -> bool:
        """Connect the caller to ``uri``; False if nobody answered within ``timeout_s``."""

    async def hangup(self) -> None:
        """End the call (idempotent)."""
