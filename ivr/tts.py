"""Speech synthesis and WAV handling for the prompt library: pyttsx3 driving libespeak-ng, sox for conversion.

Every file this module writes is 8 kHz mono 16-bit PCM WAV (what the pjsua2 call worker plays) and reaches its
final name by ``os.replace`` from a temporary file in the same folder, so worker processes sharing one cache
folder never see a half-written prompt.

Rendering uses libespeak-ng's in-process synthesiser through pyttsx3 (Debian: libespeak-ng1, espeak-ng-data);
sox (Debian: sox) converts espeak's 22.05 kHz output, and recorded prompts of any rate or channel count, to
8 kHz mono. No audioop: it is deprecated.
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import importlib
import io
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import types
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "RENDERER_VERSION",
    "SAMPLE_RATE_HZ",
    "EspeakRenderer",
    "PromptError",
    "RenderError",
    "RenderSpec",
    "WavInfo",
    "convert_to_telephone",
    "espeak_version",
    "read_samples",
    "read_wav_info",
    "remove_stale_temps",
    "render_batch",
    "render_in_processes",
    "renderer_id",
    "resolve_voice",
    "rms",
    "trim_wav",
    "write_tone",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 8000
# Bump when anything here or in ivr.prompts.speakable() changes what a rendered file sounds like; it is part of
# every cache key.
RENDERER_VERSION = "2"
_TTS_RATE_WPM = 175  # espeak-ng's default pace; residents on the phone include many elderly callers
_GAIN_DB = -3.0  # espeak-ng peaks at full scale: leave headroom so resampling does not clip
_TRIM_THRESHOLD = 300  # |sample| above this (about -40 dBFS) counts as sound when trimming pieces
_TEMP_PREFIX = ".tmp-"
_SYNTH_TIMEOUT_S = 30.0
_SYNTH_ATTEMPTS = 3

# libespeak-ng keeps one synthesiser (voice, callback, buffers) per process, so one process renders one text at
# a time; parallel rendering uses worker processes. This lock guards that process-wide C state.
_ESPEAK_LOCK = threading.Lock()


class PromptError(Exception):
    """Root of the prompt library's errors."""


class RenderError(PromptError):
    """Synthesis or conversion failed (the message says what to install or which file is wrong)."""


@dataclasses.dataclass(frozen=True, slots=True)
class RenderSpec:
    """How to render: the espeak-ng voice and whether to trim silence (pieces are played back to back)."""

    voice: str
    trim: bool = False

    @property
    def trim_ms(self) -> tuple[int, int]:
        return (5, 30) if self.trim else (0, 0)


@dataclasses.dataclass(frozen=True, slots=True)
class WavInfo:
    rate_hz: int
    channels: int
    sample_width_bytes: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate_hz if self.rate_hz else 0.0

    @property
    def is_telephone(self) -> bool:
        """8 kHz mono 16-bit: playable as it is."""
        return (self.rate_hz, self.channels, self.sample_width_bytes) == (SAMPLE_RATE_HZ, 1, 2)


def read_wav_info(path: Path) -> WavInfo:
    """The format of a PCM WAV file whose audio data is complete; RenderError otherwise."""
    try:
        with wave.open(str(path), "rb") as wav:
            info = WavInfo(wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes())
            data = wav.readframes(info.frames)
    except (wave.Error, EOFError, OSError) as exc:
        raise RenderError(f"{path}: not a readable PCM WAV file: {exc}") from exc
    if info.frames == 0:
        raise RenderError(f"{path}: WAV file has no audio")
    if len(data) != info.frames * info.channels * info.sample_width_bytes:
        raise RenderError(f"{path}: WAV file is truncated ({len(data)} of "
                          f"{info.frames * info.channels * info.sample_width_bytes} data bytes)")
    return info


def read_samples(path: Path) -> array.array[int]:
    """The samples of an 8 kHz mono 16-bit WAV file."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise RenderError(f"{path}: expected mono 16-bit samples")
        samples = array.array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":  # pragma: no cover - WAV is little-endian
        samples.byteswap()
    return samples


def rms(samples: Sequence[int]) -> float:
    """Root mean square of 16-bit samples, 0.0 to 32768.0."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def espeak_version() -> str:
    """The version of the libespeak-ng that pyttsx3 loads, e.g. "1.51"."""
    drivers = _import_espeak()
    return str(drivers.Info(None).decode("ascii", "replace"))


def _import_espeak() -> types.ModuleType:
    try:
        return importlib.import_module("pyttsx3.drivers._espeak")  # loads libespeak-ng.so.1 on import
    except (RuntimeError, OSError) as exc:
        raise RenderError("pyttsx3 cannot load libespeak-ng: install the Debian packages libespeak-ng1 and "
                          "espeak-ng-data") from exc


def resolve_voice(voice: str, version: str) -> str:
    """The voice to ask espeak-ng for. In espeak-ng up to 1.51 (Debian 12) the ``cmn`` voice reads Latin text as
    English, and its dictionary hands it pinyin for many characters, so 零 comes out as English "ling two";
    ``cmn-latn-pinyin`` reads the same dictionary as Mandarin. 1.52 rewrote the rules and fixed ``cmn``."""
    if voice == "cmn" and _version_tuple(version) < (1, 52):
        return "cmn-latn-pinyin"
    return voice


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _temp_path(folder: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=suffix, dir=folder)
    os.close(fd)
    return Path(name)


def _write_wav_atomic(pcm: bytes, dest: Path) -> None:
    """Write 8 kHz mono 16-bit PCM to ``dest`` through a temporary file and an atomic rename."""
    tmp = _temp_path(dest.parent, ".wav")
    try:
        with open(tmp, "wb") as raw:
            with wave.open(raw, "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(SAMPLE_RATE_HZ)
                wav.writeframes(pcm)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _trim(pcm: bytes, lead_ms: int, tail_ms: int) -> bytes:
    """Keep ``lead_ms`` before the first and ``tail_ms`` after the last sample louder than the threshold; the
    samples in between are kept exactly. Audio without any such sample is returned as it is."""
    samples = array.array("h", pcm)
    loud = [i for i, s in enumerate(samples) if abs(s) > _TRIM_THRESHOLD]
    if not loud:
        return pcm
    per_ms = SAMPLE_RATE_HZ // 1000
    start = max(0, loud[0] - lead_ms * per_ms)
    end = min(len(samples), loud[-1] + 1 + tail_ms * per_ms)
    return samples[start:end].tobytes()


def convert_to_telephone(src: Path, dest: Path, *, gain_db: float = 0.0, trim_ms: tuple[int, int] = (0, 0)) -> None:
    """Convert any audio file sox reads into an 8 kHz mono 16-bit WAV at ``dest`` (atomically)."""
    cmd = ["sox", "-q", "-D", str(src), "-t", "raw", "-r", str(SAMPLE_RATE_HZ), "-c", "1", "-b", "16",
           "-e", "signed-integer", "-L", "-"]
    if gain_db:
        cmd += ["gain", f"{gain_db:g}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    except FileNotFoundError as exc:
        raise RenderError("sox is not installed (Debian package sox)") from exc
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"{src}: sox did not finish converting it within 60 s") from exc
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
        raise RenderError(f"{src}: sox cannot convert it: {reason}")
    pcm = proc.stdout
    if len(pcm) < 2:
        raise RenderError(f"{src}: sox produced no audio")
    if trim_ms != (0, 0):
        pcm = _trim(pcm[: len(pcm) // 2 * 2], *trim_ms)
    _write_wav_atomic(pcm[: len(pcm) // 2 * 2], dest)


def trim_wav(src: BinaryIO, dest: Path, trim_ms: tuple[int, int]) -> None:
    """Copy the 8 kHz mono 16-bit WAV read from ``src`` (an open file) to ``dest`` (atomically), keeping only
    ``trim_ms`` = (lead, tail) milliseconds of its leading and trailing silence: the trimming pieces get."""
    name = getattr(src, "name", "WAV source")
    try:
        with wave.open(src, "rb") as wav:
            fmt = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
            pcm = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise RenderError(f"{name}: not a readable PCM WAV file: {exc}") from exc
    if fmt != (SAMPLE_RATE_HZ, 1, 2):
        raise RenderError(f"{name}: {fmt[0]} Hz, {fmt[1]} channel(s), {8 * fmt[2]}-bit; expected 8 kHz mono 16-bit")
    _write_wav_atomic(_trim(pcm[: len(pcm) // 2 * 2], *trim_ms), dest)


def write_tone(dest: Path, *, frequency_hz: float = 1000.0, duration_s: float = 0.3, level: float = 0.5) -> None:
    """A sine beep with 5 ms fades (no clicks), generated here rather than synthesised."""
    frames = round(duration_s * SAMPLE_RATE_HZ)
    fade = SAMPLE_RATE_HZ * 5 // 1000
    samples = array.array("h", bytes(2 * frames))
    for i in range(frames):
        envelope = min(1.0, i / fade, (frames - 1 - i) / fade)
        samples[i] = round(32767 * level * envelope * math.sin(2 * math.pi * frequency_hz * i / SAMPLE_RATE_HZ))
    if sys.byteorder == "big":  # pragma: no cover - WAV is little-endian
        samples.byteswap()
    _write_wav_atomic(samples.tobytes(), dest)


class EspeakRenderer:
    """Renders text with pyttsx3 on libespeak-ng into 8 kHz telephone WAV files."""

    def __init__(self, spec: RenderSpec) -> None:
        self._spec = spec
        self._engine: Any = None  # created on first use: it loads libespeak-ng into this process
        self._voice = spec.voice

    def _engine_for_voice(self) -> Any:  # a pyttsx3.Engine (pyttsx3 is untyped)
        if self._engine is None:
            _import_espeak()
            import pyttsx3

            try:
                self._engine = pyttsx3.init("espeak")
            except RuntimeError as exc:  # Initialize() failed: no espeak-ng-data
                raise RenderError("pyttsx3 cannot start espeak-ng: install the Debian package espeak-ng-data") from exc
            self._voice = resolve_voice(self._spec.voice, espeak_version())
        return self._engine

    def render(self, text: str, dest: Path) -> float:
        """Render ``text`` into ``dest``; returns the seconds it took."""
        started = time.perf_counter()
        raw = _temp_path(dest.parent, ".tts.wav")
        try:
            for attempt in range(1, _SYNTH_ATTEMPTS + 1):
                if self._synthesise(text, raw):
                    break
                # libespeak-ng's asynchronous queue sometimes drops an utterance that follows another closely
                # (about 1 in 100 here): it reports "message terminated" without any audio. Asking again works.
                logger.debug("espeak-ng returned no audio for %r (attempt %d); trying again", text, attempt)
            else:
                raise RenderError(f"espeak-ng produced no audio for {text!r} (voice {self._voice!r}) "
                                  f"in {_SYNTH_ATTEMPTS} attempts")
            convert_to_telephone(raw, dest, gain_db=_GAIN_DB, trim_ms=self._spec.trim_ms)
        finally:
            raw.unlink(missing_ok=True)
        return time.perf_counter() - started

    def _synthesise(self, text: str, raw: Path) -> bool:
        """pyttsx3 writes espeak-ng's 22.05 kHz output to ``raw``; False if it came out without audio."""
        with _ESPEAK_LOCK:
            engine = self._engine_for_voice()
            # In AUDIO_OUTPUT_RETRIEVAL mode libespeak-ng synthesises on its own thread and pyttsx3's runAndWait()
            # can return before the file is written: wait for "finished-utterance", sent after the write.
            finished = threading.Event()
            token = engine.connect("finished-utterance", lambda **_: finished.set())
            try:
                engine.setProperty("voice", self._voice)
                engine.setProperty("rate", _TTS_RATE_WPM)
                engine.setProperty("volume", 1.0)
                # pyttsx3's espeak driver prints "Audio saved to ..." on stdout.
                with contextlib.redirect_stdout(io.StringIO()):
                    engine.save_to_file(text, str(raw))
                    engine.runAndWait()
                    if not finished.wait(_SYNTH_TIMEOUT_S):
                        raise RenderError(f"espeak-ng did not finish {text!r} within {_SYNTH_TIMEOUT_S:g} s")
            except ValueError as exc:  # pyttsx3 reports an unknown voice as ValueError
                raise RenderError(f"espeak-ng has no voice {self._voice!r}: {exc}") from exc
            finally:
                engine.disconnect(token)
        return raw.stat().st_size > 44  # more than a bare WAV header


def render_batch(spec: RenderSpec, jobs: Sequence[tuple[str, str]]) -> list[float]:
    """Render ``(text, destination path)`` pairs with one renderer; the seconds each took."""
    renderer = EspeakRenderer(spec)
    return [renderer.render(text, Path(dest)) for text, dest in jobs]


def render_in_processes(spec: RenderSpec, jobs: Sequence[tuple[str, str]], workers: int, *,
                        timeout_s: float = 300.0) -> list[float]:
    """Render ``(text, destination path)`` pairs in ``workers`` child processes (``python -m ivr.tts``), each
    with its own libespeak-ng; the seconds each prompt took. Plain child processes rather than multiprocessing:
    they neither re-import the parent's main module nor inherit its threads (pjsua2, asyncio)."""
    chunks = [list(jobs[i::workers]) for i in range(workers)]
    folder = Path(jobs[0][1]).parent
    job_files: list[Path] = []
    procs: list[subprocess.Popen[bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        for chunk in chunks:
            job_file = _temp_path(folder, ".json")
            job_files.append(job_file)
            job_file.write_text(json.dumps({"voice": spec.voice, "trim": spec.trim, "jobs": chunk}), "utf-8")
            procs.append(subprocess.Popen([sys.executable, "-m", "ivr.tts", str(job_file)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        seconds: list[float] = []
        for proc in procs:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            if proc.returncode != 0:
                reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
                raise RenderError(f"render worker failed: {reason[0]}")
            seconds += json.loads(out)
        return seconds
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"render workers did not finish within {timeout_s:g} s") from exc
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        for job_file in job_files:
            job_file.unlink(missing_ok=True)


def renderer_id(spec: RenderSpec) -> str:
    """What the cache key needs to know about the renderer besides the text."""
    version = espeak_version()
    return (f"pyttsx3-espeak-ng/{version}/r{RENDERER_VERSION}/{resolve_voice(spec.voice, version)}"
            f"/{_TTS_RATE_WPM}wpm/{_GAIN_DB:g}dB/trim{spec.trim_ms}")


def remove_stale_temps(folder: Path, older_than_s: float = 3600.0) -> int:
    """Remove temporary files a killed renderer left behind; returns how many."""
    removed = 0
    cutoff = time.time() - older_than_s
    for path in folder.glob(_TEMP_PREFIX + "*"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def _main(argv: Sequence[str]) -> int:
    """Child process of :func:`render_in_processes`: render the jobs in the JSON file ``argv[0]``."""
    try:
        request = json.loads(Path(argv[0]).read_text("utf-8"))
        spec = RenderSpec(str(request["voice"]), bool(request["trim"]))
        jobs = [(str(text), str(dest)) for text, dest in request["jobs"]]
        seconds = render_batch(spec, jobs)
    except (PromptError, OSError, ValueError, KeyError, IndexError) as exc:
        print(f"ivr.tts: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
