"""Audio for the call worker: a pool of reusable pjsua2 ``AudioMediaPort`` objects that play prompt frames and
hand received frames to asyncio, WAV reading and writing, silence detection by frame energy, and the DTMF
buffer a call's ``collect`` reads from.

Threads: ``FramePort.onFrameRequested``/``onFrameReceived`` run on pjmedia's clock thread every 20 ms. They only
pop a prepared chunk from a deque, or copy the received bytes and hand them to the event loop with
``loop.call_soon_threadsafe``. Everything else here runs on the event loop thread.

No pjsua2 ``AudioMediaPlayer`` is used (the wheel has 32): prompts are read into memory once (a small cache) and
fed frame by frame through the call's port, which also makes barge-in a deque ``clear()``.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import logging
import math
import sys
import wave
from collections.abc import Callable
from pathlib import Path

import pjsua2 as pj

__all__ = [
    "FRAME_BYTES",
    "SAMPLE_RATE_HZ",
    "DigitBuffer",
    "FramePort",
    "MediaError",
    "PlayMark",
    "PortPool",
    "PromptCache",
    "frame_rms",
    "write_wav",
]

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
FrameSink = Callable[[bytes], None]


class MediaError(Exception):
    """Root of the audio errors of the call worker."""


def frame_rms(pcm: bytes) -> float:
    """Root mean square of 16-bit little-endian mono samples (0 for an empty frame)."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder != "little":  # pragma: no cover - the worker runs on little-endian machines
        samples.byteswap()
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def write_wav(path: Path, pcm: bytes) -> None:
    """Write 8 kHz mono 16-bit PCM as a WAV file (blocking: call through ``asyncio.to_thread``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(pcm)
    tmp.replace(path)


class PromptCache:
    """WAV prompts as 20 ms PCM chunks, read once (8 kHz mono 16-bit only) and kept while their file is
    unchanged. Bounded by total bytes; the oldest entries go first."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: collections.OrderedDict[Path, tuple[float, tuple[bytes, ...]]] = collections.OrderedDict()

    @staticmethod
    def _read(path: Path) -> tuple[bytes, ...]:
        try:
            with wave.open(str(path), "rb") as wav:
                rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
                if (rate, channels, width) != (SAMPLE_RATE_HZ, 1, 2):
                    raise MediaError(f"{path}: expected 8000 Hz mono 16-bit WAV, got {rate} Hz, "
                                     f"{channels} channel(s), {8 * width}-bit")
                pcm = wav.readframes(wav.getnframes())
        except (OSError, EOFError, wave.Error) as exc:
            raise MediaError(f"{path}: cannot read WAV: {exc}") from exc
        if len(pcm) % FRAME_BYTES:
            pcm += b"\x00" * (FRAME_BYTES - len(pcm) % FRAME_BYTES)
        return tuple(pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))

    def chunks(self, path: Path) -> tuple[bytes, ...]:
        """The prompt's frames; raises :class:`MediaError` for a missing or wrongly encoded file."""
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise MediaError(f"{path}: cannot read WAV: {exc}") from exc
        cached = self._entries.get(path)
        if cached and cached[0] == mtime:
            self._entries.move_to_end(path)
            return cached[1]
        frames = self._read(path)
        if cached:
            self._bytes -= len(cached[1]) * FRAME_BYTES
        self._entries[path] = (mtime, frames)
        self._bytes += len(frames) * FRAME_BYTES
        while self._bytes > self._max_bytes and len(self._entries) > 1:
            _, (_, old) = self._entries.popitem(last=False)
            self._bytes -= len(old) * FRAME_BYTES
        return frames


class PlayMark:
    """Put in a port's play queue after a prompt: the clock thread reports reaching it to the loop."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future

    def reached(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class FramePort(pj.AudioMediaPort):
    """A conference port that plays queued 20 ms chunks and hands received frames to a sink on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        super().__init__()
        self.name = name
        self._loop = loop
        self._queue: collections.deque[bytes | PlayMark] = collections.deque()
        self._sink: FrameSink | None = None
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE_HZ, 1, FRAME_MS * 1000, 16)
        self.createPort(name, fmt)

    # --- clock thread -------------------------------------------------------------------------------
    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 callback name
        try:
            self._fill(frame)
        except Exception:  # an exception escaping into the C++ clock thread would abort the process
            log.exception("port %s: onFrameRequested failed", self.name)

    def _fill(self, frame: pj.MediaFrame) -> None:
        queue = self._queue
        while queue:
            try:
                item = queue.popleft()
            except IndexError:  # cleared by the loop between the check and the pop
                return
            if isinstance(item, PlayMark):
                with contextlib.suppress(RuntimeError):  # loop closed while shutting down
                    self._loop.call_soon_threadsafe(item.reached)
                continue
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = pj.ByteVector(item)
            frame.size = len(item)
            return

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 callback name
        sink = self._sink
        if sink is None:
            return
        try:
            if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
                return
            data = bytes(frame.buf)
            self._loop.call_soon_threadsafe(sink, data)
        except RuntimeError:  # loop closed while shutting down
            return
        except Exception:  # an exception escaping into the C++ clock thread would abort the process
            log.exception("port %s: onFrameReceived failed", self.name)

    # --- loop thread --------------------------------------------------------------------------------
    def enqueue(self, frames: tuple[bytes, ...], mark: PlayMark) -> None:
        self._queue.extend(frames)
        self._queue.append(mark)

    def stop_playing(self) -> None:
        """Drop queued audio; pending marks are reported reached so no waiter hangs."""
        marks = [item for item in list(self._queue) if isinstance(item, PlayMark)]
        self._queue.clear()
        for mark in marks:
            mark.reached()

    def set_sink(self, sink: FrameSink | None) -> None:
        self._sink = sink

    def reset(self) -> None:
        self.set_sink(None)
        self.stop_playing()

    def destroy(self) -> None:
        """Run the C++ destructor now (it leaves the conference bridge), while the library is alive: a port
        still referenced somewhere and collected after ``libDestroy`` would abort the process."""
        self.reset()
        if self.thisown:
            type(self).__swig_destroy__(self)  # SWIG disowns the proxy: nothing is deleted twice


class PortPool:
    """Ports created once at start-up and reused: deleting a port per call races the conference bridge."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._all = [FramePort(loop, f"ivr-port-{i}") for i in range(size)]
        self._free = list(reversed(self._all))

    @property
    def free(self) -> int:
        return len(self._free)

    def acquire(self) -> FramePort:
        if not self._free:
            raise MediaError("no free media port")
        return self._free.pop()

    def release(self, port: FramePort) -> None:
        port.reset()
        if port not in self._free:
            self._free.append(port)

    def close(self) -> None:
        """Drop every port (call after every call is gone and before ``libDestroy``)."""
        for port in self._all:
            port.destroy()
        self._free.clear()
        self._all.clear()


class DigitBuffer:
    """Keys the caller pressed (RFC 4733 or SIP INFO), in order, for ``play``'s barge-in and ``collect``."""

    def __init__(self) -> None:
        self._digits: collections.deque[str] = collections.deque()
        self._event = asyncio.Event()

    def push(self, digit: str) -> None:
        self._digits.append(digit)
        self._event.set()

    def pop(self) -> str | None:
        if not self._digits:
            self._event.clear()
            return None
        return self._digits.popleft()

    def peek(self) -> str | None:
        return self._digits[0] if self._digits else None

    def unshift(self, digit: str) -> None:
        """Put a key back at the front (a barge-in key kept for the next collect)."""
        self._digits.appendleft(digit)
        self._event.set()

    def clear(self) -> None:
        self._digits.clear()
        self._event.clear()

    async def wait(self) -> None:
        """Until a key is buffered."""
        if self._digits:
            return
        self._event.clear()
        await self._event.wait()
