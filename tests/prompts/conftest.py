"""Fixtures for the prompt library: real espeak-ng and sox, real files. The number/date pieces are rendered once
per session into a session cache; tests that count renders get a cache of their own."""

from __future__ import annotations

import array
import datetime as dt
import math
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.prompts import PromptLibrary
from tickets.config import Settings, settings_from_mapping

TODAY = dt.date(2026, 11, 29)


def make_settings(root: Path, cache_dir: Path, prompts_dir: Path) -> Settings:
    return settings_from_mapping(
        {
            "paths": {"data_dir": str(root), "prompt_cache_dir": str(cache_dir)},
            "ivr": {"prompts_dir": str(prompts_dir)},
        },
        root,
        env={},
    )


def write_wav(path: Path, *, rate_hz: int = 8000, channels: int = 1, seconds: float = 0.5,
              frequency_hz: float = 440.0) -> None:
    """A sine tone as 16-bit PCM WAV (what a recorded prompt file stands in for)."""
    frames = round(rate_hz * seconds)
    samples = array.array("h")
    for i in range(frames):
        value = round(12000 * math.sin(2 * math.pi * frequency_hz * i / rate_hz))
        samples.extend([value] * channels)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate_hz)
        wav.writeframes(samples.tobytes())


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prompt-cache")


@pytest.fixture(scope="session")
def pieces(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> PromptLibrary:
    """A library whose pieces are prepared (no recordings), 'today' pinned to 2026-11-29."""
    root = tmp_path_factory.mktemp("pieces")
    library = PromptLibrary(make_settings(root, session_cache, root / "no-recordings"), today=lambda: TODAY)
    library.prepare_pieces()
    return library


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """The prompts_dir of libraries made by ``make_library``."""
    return tmp_path / "recordings"


@pytest.fixture
def make_library(tmp_path: Path, recordings: Path, session_cache: Path) -> Callable[..., PromptLibrary]:
    """``make_library()`` renders into a cache of this test's own; ``shared=True`` into the session cache (where
    the pieces already are)."""

    def make(*, shared: bool = False, **kwargs: object) -> PromptLibrary:
        cache = session_cache if shared else tmp_path / "cache"
        return PromptLibrary(make_settings(tmp_path, cache, recordings), today=lambda: TODAY, **kwargs)  # type: ignore[arg-type]

    return make
