"""The hotline's prompt library: every sentence and spoken value as an 8 kHz mono 16-bit WAV file.

Sentences are rendered once by espeak-ng (see :mod:`ivr.tts`) into a cache folder shared by all worker
processes, keyed by a hash of (renderer, voice, text). A recording ``<prompts_dir>/<key>.wav`` replaces the
synthetic voice for that key. Numbers, digit strings, dates, working days and ticket statuses are spoken from
pieces rendered by :meth:`PromptLibrary.prepare_pieces` at start-up, so nothing is synthesised on a live call:
after :meth:`PromptLibrary.prepare` every lookup is a dictionary access.

A sentence file ends with espeak-ng's pause (about 300 ms) and starts with a little silence: right as a prompt on
its own, wrong inside a sentence composed of several files. :meth:`PromptLibrary.fragment` gives the same audio
trimmed like the pieces (``frag-*.wav`` in the cache, derived from the file, never rendered again); ``prepare``
derives the fragments of everything it resolves, so a call never waits for one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from tickets.config import Settings
from tickets.enums import Status

from .tts import (
    RENDERER_VERSION,
    EspeakRenderer,
    PromptError,
    RenderError,
    RenderSpec,
    convert_to_telephone,
    espeak_version,
    read_wav_info,
    remove_stale_temps,
    render_in_processes,
    renderer_id,
    resolve_voice,
    trim_wav,
    write_tone,
)

__all__ = [
    "PIECE_KEYS",
    "PromptError",
    "PromptLibrary",
    "PromptStats",
    "RenderError",
    "date_pieces",
    "digit_pieces",
    "number_pieces",
    "speakable",
    "working_day_pieces",
]

logger = logging.getLogger(__name__)

_CARDINAL = "零一二三四五六七八九"
_TELEPHONE = "零幺二三四五六七八九"  # digit strings (ticket numbers, codes): 1 is read 幺
_UNITS = ((10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, ""))
_WORKING_DAYS = "个工作日"
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FRAGMENT_PREFIX = "frag-"
_FRAGMENT_VERSION = f"fragment-1/r{RENDERER_VERSION}"  # part of a fragment's name: bump when trimming changes

# Every piece a spoken value is made of, with the key under which a recording may replace it.
PIECE_KEYS: dict[str, str] = {
    "零": "num_0", "一": "num_1", "幺": "num_1_yao", "二": "num_2", "两": "num_2_liang", "三": "num_3",
    "四": "num_4", "五": "num_5", "六": "num_6", "七": "num_7", "八": "num_8", "九": "num_9",
    "十": "num_10", "百": "num_100", "千": "num_1000", "万": "num_10000",
    "年": "date_year", "月": "date_month", "日": "date_day", _WORKING_DAYS: "working_days",
}


def digit_pieces(digits: str) -> list[str]:
    """Digit by digit, telephone style: "110" -> 幺 幺 零."""
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"expected digits 0-9, got {digits!r}")
    return [_TELEPHONE[int(c)] for c in digits]


def number_pieces(value: int) -> list[str]:
    """A cardinal number 0-99999 as spoken: 10 十, 12 十二, 105 一百零五, 2000 两千, 10010 一万零一十.

    One 零 stands for any run of zeros between non-zero digits, trailing zeros are silent, a leading 1 before
    十 is dropped and a leading 2 before 百, 千 or 万 is read 两."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer 0-99999, got {value!r}")
    if not 0 <= value <= 99999:
        raise ValueError(f"number out of range 0-99999: {value}")
    if value == 0:
        return ["零"]
    pieces: list[str] = []
    pending_zero = False
    for unit_value, unit in _UNITS:
        digit = value // unit_value % 10
        if digit == 0:
            pending_zero = bool(pieces)
            continue
        if pending_zero:
            pieces.append("零")
            pending_zero = False
        if not pieces and digit == 1 and unit == "十":
            pass
        elif not pieces and digit == 2 and unit in ("百", "千", "万"):
            pieces.append("两")
        else:
            pieces.append(_CARDINAL[digit])
        if unit:
            pieces.append(unit)
    return pieces


def date_pieces(value: dt.date, today: dt.date) -> list[str]:
    """十一月二十九日; with the year read digit by digit (二〇二七年) when it is not ``today``'s year."""
    pieces: list[str] = []
    if value.year != today.year:
        pieces += [_CARDINAL[int(c)] for c in f"{value.year:04d}"] + ["年"]
    return pieces + number_pieces(value.month) + ["月"] + number_pieces(value.day) + ["日"]


def working_day_pieces(days: int) -> list[str]:
    """N个工作日; 2 is 两 before a measure word (两个工作日) but 十二 stays 十二."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 99999:
        raise ValueError(f"working days out of range 1-99999: {days!r}")
    return (["两"] if days == 2 else number_pieces(days)) + [_WORKING_DAYS]


_SPEAKABLE_RE = re.compile(r"(?P<num>[0-9]+)(?P<year>年)?|(?P<sym>[#*])(?:号)?")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＃＊", "0123456789#*")


def speakable(text: str) -> str:
    """The text as espeak-ng should read it. espeak-ng 1.51 reads 96536 as 九十六千五百三十六, 2027年 as 二千二十七年
    and # as English "hash", so: three or more digits are a number to dial or a code, read digit by digit
    (96536 九六五三六, 12345 幺二三四五); four digits before 年 are a year (二零二七年); one or two digits are a
    cardinal (请按1 请按一, 15个 十五个, 2个 两个); # and * are 井号 and 星号."""

    def spell(match: re.Match[str]) -> str:
        if match["sym"]:
            return "井号" if match["sym"] == "#" else "星号"
        digits, year = match["num"], match["year"] or ""
        if year and len(digits) == 4:
            return "".join(_CARDINAL[int(c)] for c in digits) + year
        if len(digits) >= 3:
            return "".join(digit_pieces(digits)) + year
        if digits.lstrip("0") == "2" and not year and match.string.startswith("个", match.end()):
            return "两"
        return "".join(number_pieces(int(digits))) + year

    return _SPEAKABLE_RE.sub(spell, text.translate(_FULL_WIDTH))


def _status_key(status: Status) -> str:
    return f"status_{status.value}"


@dataclasses.dataclass(slots=True)
class PromptStats:
    """What the library did since it was created (tests and ``hotline prompts render`` read it)."""

    renders: int = 0
    render_s: float = 0.0
    cache_hits: int = 0
    misses: int = 0
    overrides: int = 0
    broken_overrides: int = 0
    fragments: int = 0  # trimmed copies written (see PromptLibrary.fragment)


class PromptLibrary:
    """Implements :class:`ivr.prompt_source.PromptSource` on a shared on-disk cache.

    ``prepare`` blocks (it renders); at worker start-up call ``await library.prepare_async(texts)`` or run it
    with ``asyncio.to_thread``. Batches larger than ``inline_max`` are rendered by a pool of worker processes.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        today: Callable[[], dt.date] | None = None,
        inline_max: int = 8,
        max_workers: int | None = None,
    ) -> None:
        self._cache_dir = settings.paths.prompt_cache_dir
        self._prompts_dir = settings.ivr.prompts_dir
        zone = ZoneInfo(settings.tickets.timezone)
        self._today = today or (lambda: dt.datetime.now(zone).date())
        self._sentence_spec = RenderSpec(settings.ivr.tts_voice)
        self._piece_spec = RenderSpec(settings.ivr.tts_voice, trim=True)
        self._inline_max = inline_max
        self._max_workers = max_workers or os.cpu_count() or 1
        self._renderer_ids: dict[RenderSpec, str] = {}
        self._renderers: dict[RenderSpec, EspeakRenderer] = {}
        self._paths: dict[tuple[str | None, str], Path] = {}
        self._pieces: dict[str, Path] = {}
        self._statuses: dict[Status, Path] = {}
        self._tone: Path | None = None
        self._pause: Path | None = None
        self._fragments: dict[Path, Path] = {}  # a prompt's path -> its trimmed copy (a piece: itself)
        self._lock = threading.RLock()  # one prepare or miss at a time in this process
        self.stats = PromptStats()

    @property
    def cache_dir(self) -> Path:
        return self._cache_dir

    # ----------------------------------------------------------------------------------------------- preparing

    def prepare(self, texts: Iterable[tuple[str | None, str]], *, force: bool = False) -> None:
        """Render (or find recordings for) every ``(key, text)``; ``force`` re-renders cached ones."""
        items = [_checked(key, text) for key, text in texts]
        with self._lock:
            self._ensure_cache_dir()
            remove_stale_temps(self._cache_dir)
            resolved = self._resolve(items, self._sentence_spec, force)
            self._derive_fragments(resolved.values())
            self._paths.update(resolved)

    def prepare_pieces(self, *, force: bool = False) -> None:
        """Render the pieces of numbers, digit strings, dates, working days and statuses, and the tone."""
        items = [(key, text) for text, key in PIECE_KEYS.items()]
        items += [(_status_key(s), s.label_zh) for s in Status]
        with self._lock:
            self._ensure_cache_dir()
            resolved = self._resolve(items, self._piece_spec, force)
            # Rendered trimmed already: a piece is its own fragment. A recording standing in for one is not.
            trimmed = {path for (_, text), path in resolved.items() if path == self._cache_path(self._piece_spec, text)}
            self._derive_fragments(set(resolved.values()) - trimmed)
            self._fragments.update((path, path) for path in trimmed)
            self._pieces = {text: resolved[(key, text)] for text, key in PIECE_KEYS.items()}
            self._statuses = {s: resolved[(_status_key(s), s.label_zh)] for s in Status}
            self._tone = self._override("tone") or self._make_tone()
            self._fragments[self._tone] = self._tone  # a beep, played on its own
            self._pause = self._make_pause()
            self._fragments[self._pause] = self._pause

    async def prepare_async(self, texts: Iterable[tuple[str | None, str]]) -> None:
        """Pieces and texts, off the event loop (the call worker's start-up)."""
        items = list(texts)

        def run() -> None:
            self.prepare_pieces()
            self.prepare(items)

        await asyncio.to_thread(run)

    def _ensure_cache_dir(self) -> None:
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RenderError(f"cannot create the prompt cache folder {self._cache_dir}: {exc}") from exc

    def _make_pause(self) -> Path:
        path = self._cache_dir / f"pause-250ms-r{RENDERER_VERSION}.wav"
        if not path.is_file():
            try:
                write_tone(path, duration_s=0.25, level=0.0)
            except OSError as exc:
                raise RenderError(f"cannot write {path}: {exc}") from exc
        return path

    def _make_tone(self) -> Path:
        path = self._cache_dir / f"tone-1000hz-300ms-r{RENDERER_VERSION}.wav"
        if not path.is_file():
            try:
                write_tone(path)
            except OSError as exc:
                raise RenderError(f"cannot write {path}: {exc}") from exc
        return path

    def _resolve(
        self, items: Sequence[tuple[str | None, str]], spec: RenderSpec, force: bool
    ) -> dict[tuple[str | None, str], Path]:
        resolved: dict[tuple[str | None, str], Path] = {}
        todo: dict[Path, str] = {}
        for key, text in items:
            recorded = self._override(key)
            synthetic = self._cache_path(spec, text)
            resolved[(key, text)] = recorded or synthetic
            if recorded is None and spec == self._sentence_spec:
                resolved.setdefault((None, text), synthetic)
            if recorded is not None or synthetic in todo:
                continue
            if force or not synthetic.is_file():
                todo[synthetic] = text
            else:
                self.stats.cache_hits += 1
        if todo:
            self._render_many(spec, todo)
        return resolved

    def _render_many(self, spec: RenderSpec, todo: dict[Path, str]) -> None:
        jobs = [(speakable(text), str(path)) for path, text in todo.items()]
        started = time.perf_counter()
        try:
            if len(jobs) <= self._inline_max:
                workers = 1
                renderer = self._renderers.setdefault(spec, EspeakRenderer(spec))
                seconds = [renderer.render(text, Path(dest)) for text, dest in jobs]
            else:
                workers = min(self._max_workers, len(jobs))
                seconds = render_in_processes(spec, jobs, workers)
        except OSError as exc:  # the cache folder is not writable, the disk is full, ...
            raise RenderError(f"cannot render into the prompt cache {self._cache_dir}: {exc}") from exc
        wall_s = time.perf_counter() - started
        self.stats.renders += len(seconds)
        self.stats.render_s += sum(seconds)
        logger.info("rendered %d prompts in %.2f s with %d process(es): %.1f ms per prompt", len(seconds), wall_s,
                    workers, 1000 * sum(seconds) / len(seconds))

    def _cache_path(self, spec: RenderSpec, text: str) -> Path:
        rid = self._renderer_ids.get(spec)
        if rid is None:
            version = espeak_version()
            voice = resolve_voice(spec.voice, version)
            if voice != spec.voice and not self._renderer_ids:
                # A known fault of espeak-ng before 1.52, handled here: information, not a warning per worker.
                logger.info("espeak-ng %s: voice %r reads pinyin as English (零 -> \"ling two\"); rendering "
                            "with %r instead", version, spec.voice, voice)
            rid = self._renderer_ids[spec] = renderer_id(spec)
        digest = hashlib.sha256(f"{rid}\x1f{text}".encode()).hexdigest()
        return self._cache_dir / f"{digest[:32]}.wav"

    def _override(self, key: str | None) -> Path | None:
        """The playable recording for ``key``, converted into the cache if needed; None if there is none or it
        is broken (logged)."""
        if key is None:
            return None
        path = self._prompts_dir / f"{key}.wav"
        if not path.is_file():
            return None
        try:
            info = read_wav_info(path)
            if info.is_telephone:
                playable = path
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                playable = self._cache_dir / f"rec-{digest[:32]}-r{RENDERER_VERSION}.wav"
                if not playable.is_file():
                    self._cache_dir.mkdir(parents=True, exist_ok=True)
                    convert_to_telephone(path, playable)
                    logger.info("converted recorded prompt %s (%d Hz, %d channel(s), %d-bit) to 8 kHz mono",
                                path, info.rate_hz, info.channels, 8 * info.sample_width_bytes)
        except (RenderError, OSError) as exc:
            self.stats.broken_overrides += 1
            logger.error("recorded prompt %s is unusable, using the synthetic voice: %s", path, exc)
            return None
        self.stats.overrides += 1
        return playable

    # ------------------------------------------------------------------------------------------------- serving

    def text(self, text: str, key: str | None = None) -> Path:
        path = self._paths.get((key, text))
        if path is not None:
            return path
        key, text = _checked(key, text)
        with self._lock:
            self.stats.misses += 1
            logger.warning("prompt cache miss: %r (key %s) was not prepared; rendering it now", text, key)
            self._ensure_cache_dir()
            resolved = self._resolve([(key, text)], self._sentence_spec, False)
            self._derive_fragments(resolved.values())
            self._paths.update(resolved)
        return resolved[(key, text)]

    def fragment(self, path: Path) -> Path:
        """``path`` without its leading and trailing silence (5 and 30 ms left, as the pieces), for the inside of a
        composed sentence: prepared by ``prepare`` for everything it resolved; any other path is trimmed now
        and logged as a miss. Pieces and the tone are returned as they are, and so is a fragment."""
        frag = self._fragments.get(path)
        if frag is not None:
            return frag
        if path.parent == self._cache_dir and path.name.startswith(_FRAGMENT_PREFIX):
            return path
        with self._lock:
            frag = self._fragments.get(path)
            if frag is not None:
                return frag
            self.stats.misses += 1
            logger.warning("prompt cache miss: no fragment of %s was prepared; trimming it now", path)
            try:
                self._ensure_cache_dir()
                return self._derive_fragment(path)
            except RenderError as exc:  # the call goes on with the untrimmed prompt
                logger.error("cannot trim %s, playing it with its silence: %s", path, exc)
                self._fragments[path] = path
                return path

    def _derive_fragments(self, paths: Iterable[Path]) -> None:
        for path in paths:
            self._derive_fragment(path)

    def _derive_fragment(self, path: Path) -> Path:
        """Write (or find) the trimmed copy of ``path``, named after the file's path, modification time and size:
        a re-rendered or re-recorded source gets a new copy, the old one stays for calls still playing it."""
        try:
            with open(path, "rb") as src:
                st = os.fstat(src.fileno())
                key = (f"{_FRAGMENT_VERSION}\x1f{self._piece_spec.trim_ms}\x1f{os.path.abspath(path)}"
                       f"\x1f{st.st_mtime_ns}\x1f{st.st_size}")
                frag = self._cache_dir / f"{_FRAGMENT_PREFIX}{hashlib.sha256(key.encode()).hexdigest()[:32]}.wav"
                if not frag.is_file():
                    trim_wav(src, frag, self._piece_spec.trim_ms)
                    self.stats.fragments += 1
        except OSError as exc:
            raise RenderError(f"cannot trim {path} into the prompt cache {self._cache_dir}: {exc}") from exc
        self._fragments[path] = self._fragments[frag] = frag
        return frag

    def digits(self, digits: str) -> list[Path]:
        return self._spoken(digit_pieces(digits))

    def number(self, value: int) -> list[Path]:
        return self._spoken(number_pieces(value))

    def date(self, value: dt.date) -> list[Path]:
        return self._spoken(date_pieces(value, self._today()))

    def working_days(self, days: int) -> list[Path]:
        """N个工作日, e.g. a ticket's time limit."""
        return self._spoken(working_day_pieces(days))

    def status(self, status: Status) -> Path:
        """A ticket status as the caller hears it (已受理, 办理中, ...)."""
        self._ensure_pieces()
        return self._statuses[status]

    def tone(self) -> Path:
        self._ensure_pieces()
        assert self._tone is not None
        return self._tone

    def pause(self) -> Path:
        self._ensure_pieces()
        assert self._pause is not None
        return self._pause

    def piece(self, text: str) -> Path:
        """The WAV of one piece (a key of :data:`PIECE_KEYS`)."""
        self._ensure_pieces()
        try:
            return self._pieces[text]
        except KeyError:
            raise ValueError(f"not a prompt piece: {text!r}") from None

    def _spoken(self, pieces: list[str]) -> list[Path]:
        self._ensure_pieces()
        return [self._pieces[p] for p in pieces]

    def _ensure_pieces(self) -> None:
        if not self._pieces:
            with self._lock:
                if not self._pieces:
                    self.stats.misses += 1
                    logger.warning("prompt cache miss: pieces were not prepared; preparing them now")
                    self.prepare_pieces()

    def cache_size_bytes(self) -> int:
        """Bytes of WAV files in the cache folder."""
        total = 0
        for path in self._cache_dir.glob("*.wav"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:  # replaced or removed by another process meanwhile
                continue
        return total


def _checked(key: str | None, text: str) -> tuple[str | None, str]:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"prompt text must be a non-empty string, got {text!r}")
    if key is not None and (not isinstance(key, str) or not _KEY_RE.fullmatch(key)):
        raise ValueError(f"prompt key must be letters, digits, '_', '-' or '.', got {key!r}")
    return key, text
