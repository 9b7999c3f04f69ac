"""What the call flow needs from the prompt library: WAV files for sentences and spoken values.

Implemented by :class:`ivr.prompts.PromptLibrary`. All paths point at 8 kHz mono 16-bit WAV files rendered
ahead of the call; nothing is synthesised on a live call's path once :meth:`PromptSource.prepare` has run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

__all__ = ["PromptSource"]


class PromptSource(Protocol):
    def prepare(self, texts: Iterable[tuple[str | None, str]]) -> None:
        """Render (or find recorded overrides for) every ``(key, text)`` pair ahead of calls. ``key`` names a
        recorded file ``<prompts_dir>/<key>.wav`` that overrides the synthetic voice; it may be None."""

    def text(self, text: str, key: str | None = None) -> Path:
        """The WAV for one sentence (prepared earlier; an unprepared one is rendered and logged as a miss)."""

    def digits(self, digits: str) -> list[Path]:
        """Digit by digit, telephone style (1 is read 幺)."""

    def number(self, value: int) -> list[Path]:
        """A cardinal number in Chinese (0 to 99999)."""

    def date(self, value: dt.date) -> list[Path]:
        """Month and day, e.g. 十一月二十九日 (the year only when it is not the current one)."""

    def tone(self) -> Path:
        """The beep before recording."""

    def pause(self) -> Path:
        """A short silence (250 ms) after each item of a spoken list (pieces are trimmed, so items would run
        together without it)."""

    def fragment(self, path: Path) -> Path:
        """The same audio without its leading and trailing silence, for the inside of a composed sentence (a
        sentence file ends with a pause fit for the end of a prompt). Pieces already trimmed (digits, numbers,
        dates) may be returned as they are. Prepared with the texts by :meth:`prepare`."""
