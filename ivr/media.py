"""Audio for the call worker: prompts through pjsua2 ``AudioMediaPlayer`` objects, recordings through
``AudioMediaRecorder``, WAV reading and trimming, and the DTMF buffer a call's ``collect`` reads from.

No Python code runs per audio frame on an ordinary call: pjmedia's clock thread pulls prompt audio from the
player and pushes the caller's audio into the recorder, both in C. Python only starts and stops them (a few
calls per prompt) and, while recording, reads the recorder's signal level every 100 ms for silence detection.

The one exception is the speech seam (``collect(grammar=...)`` with a recogniser): :class:`FramePort` hands
every received frame to the event loop. A port in the conference bridge is called every 20 ms even when nothing
is connected to it (measured: 50 ``onFrameReceived`` calls per second per idle port), so the worker creates
its :class:`PortPool` only when it has a recogniser.

Threads: ``FramePort.onFrameReceived`` runs on pjmedia's clock thread; it copies the bytes and hands them to
the loop with ``loop.call_soon_threadsafe``. Everything else here runs on the event loop thread.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import logging
import math
import os
import sys
import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import pjsua2 as pj

__all__ = [
    "FRAME_BYTES",
    "SAMPLE_RATE_HZ",
    "DigitBuffer",
    "FramePort",
    "MediaError",
    "PlayerGraveyard",
    "PortPool",
    "PromptIndex",
    "frame_rms",
    "read_pcm",
    "start_player",
    "start_recorder",
    "stop_media",
    "wait_closed",
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


def _check_format(path: Path, wav: wave.Wave_read) -> None:
    rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
    if (rate, channels, width) != (SAMPLE_RATE_HZ, 1, 2):
        raise MediaError(f"{path}: expected 8000 Hz mono 16-bit WAV, got {rate} Hz, "
                         f"{channels} channel(s), {8 * width}-bit")


def read_pcm(path: Path) -> bytes:
    """The samples of an 8 kHz mono 16-bit WAV file (blocking); :class:`MediaError` for anything else."""
    try:
        with wave.open(str(path), "rb") as wav:
            _check_format(path, wav)
            return wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise MediaError(f"{path}: cannot read WAV: {exc}") from exc


class PromptIndex:
    """How long each prompt WAV plays (in samples), read from its header once and kept while the file is
    unchanged; checks the format (8 kHz mono 16-bit) so that a wrong file is refused before it reaches a call.
    Bounded by entry count; the oldest entries go first."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        self._entries: collections.OrderedDict[Path, tuple[float, int]] = collections.OrderedDict()

    def samples(self, path: Path) -> int:
        """The prompt's length in samples; raises :class:`MediaError` for a missing or wrongly encoded file."""
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise MediaError(f"{path}: cannot read WAV: {exc}") from exc
        cached = self._entries.get(path)
        if cached and cached[0] == mtime:
            self._entries.move_to_end(path)
            return cached[1]
        try:
            with wave.open(str(path), "rb") as wav:
                _check_format(path, wav)
                count = wav.getnframes()
        except (OSError, EOFError, wave.Error) as exc:
            raise MediaError(f"{path}: cannot read WAV: {exc}") from exc
        self._entries[path] = (mtime, count)
        self._entries.move_to_end(path)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return count


def start_player(paths: Sequence[Path], media: pj.AudioMedia) -> pj.AudioMediaPlayer:
    """Play ``paths`` back to back (once, no loop) into ``media``; raises ``pj.Error`` when pjsua2 refuses
    (e.g. its 32 players are in use). Stop it with :meth:`PlayerGraveyard.bury`, never by destroying it."""
    player = pj.AudioMediaPlayer()
    if len(paths) == 1:
        player.createPlayer(str(paths[0]), pj.PJMEDIA_FILE_NO_LOOP)
    else:
        names = pj.StringVector()
        for path in paths:
            names.append(str(path))
        player.createPlaylist(names, "prompt", pj.PJMEDIA_FILE_NO_LOOP)
    player.startTransmit(media)
    return player


def start_recorder(path: Path, media: pj.AudioMedia) -> pj.AudioMediaRecorder:
    """Record what ``media`` sends (the caller) into a WAV file at ``path`` (8 kHz mono 16-bit PCM: the bridge's
    format); raises ``pj.Error`` when pjsua2 refuses. Stop it with :func:`stop_media`, which finishes the file."""
    recorder = pj.AudioMediaRecorder()
    recorder.createRecorder(str(path))
    try:
        media.startTransmit(recorder)
    except pj.Error:
        stop_media(recorder)
        raise
    return recorder


def _fd_target(fd: str) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # closed meanwhile (the listing's own descriptor, for one)
        return None


def wait_closed(path: Path, timeout_s: float = 2.0) -> bool:
    """Wait (blocking) until this process no longer holds ``path`` open: pjmedia closes a destroyed recorder's
    file on its clock thread a tick or two later, and only then is the WAV header complete. Linux (/proc)."""
    target = str(path.resolve())
    deadline = time.monotonic() + timeout_s
    while True:
        if not any(_fd_target(fd) == target for fd in os.listdir("/proc/self/fd")):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def stop_media(player_or_recorder: pj.AudioMedia) -> None:
    """Destroy a player or recorder now: it leaves the conference bridge (every connection to or from it goes
    with it) and a recorder writes its WAV header. Safe to call when the call's media is already gone."""
    if player_or_recorder.thisown:
        type(player_or_recorder).__swig_destroy__(player_or_recorder)  # SWIG disowns the proxy: no double delete


class PlayerGraveyard:
    """Stopped players are disconnected at once but destroyed only ``delay_s`` later.

    pjsua2's ``AudioMediaPlayer`` registers an end-of-file callback with a pointer to the C++ player; pjmedia
    posts that callback to its event thread when the file ends. Destroying the player right after its end (the
    next prompt starting) let the event thread call into freed memory: a worker died with SIGSEGV at 128
    concurrent calls. Two seconds is far longer than the event thread takes to run the callback; a worker
    holds a few players here at most (pjsua2 allows 32).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, delay_s: float = 2.0) -> None:
        self._loop = loop
        self._delay_s = delay_s
        self._graves: collections.deque[tuple[float, pj.AudioMediaPlayer]] = collections.deque()
        self._sweep: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._graves)

    def bury(self, player: pj.AudioMediaPlayer, sink: pj.AudioMedia | None) -> None:
        """Stop ``player`` now (disconnect it from ``sink``) and destroy it later."""
        if sink is not None:
            with contextlib.suppress(pj.Error):  # the call's media is already gone
                player.stopTransmit(sink)
        self._graves.append((self._loop.time() + self._delay_s, player))
        if self._sweep is None:
            self._sweep = self._loop.call_later(self._delay_s, self.sweep)

    def sweep(self) -> None:
        self._sweep = None
        now = self._loop.time()
        while self._graves and self._graves[0][0] <= now:
            stop_media(self._graves.popleft()[1])
        if self._graves:
            self._sweep = self._loop.call_at(self._graves[0][0], self.sweep)

    def close(self) -> None:
        """Destroy every player now (shutdown, before ``libDestroy``)."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        while self._graves:
            stop_media(self._graves.popleft()[1])


class FramePort(pj.AudioMediaPort):
    """A conference port that hands received frames to a sink on the loop (the speech seam only)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        super().__init__()
        self.name = name
        self._loop = loop
        self._sink: FrameSink | None = None
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE_HZ, 1, FRAME_MS * 1000, 16)
        self.createPort(name, fmt)

    # --- clock thread -------------------------------------------------------------------------------
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
    def set_sink(self, sink: FrameSink | None) -> None:
        self._sink = sink

    def destroy(self) -> None:
        """Run the C++ destructor now (it leaves the conference bridge), while the library is alive: a port
        still referenced somewhere and collected after ``libDestroy`` would abort the process."""
        self.set_sink(None)
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
        port.set_sink(None)
        if port not in self._free:
            self._free.append(port)

    def close(self) -> None:
        """Drop every port (call after every call is gone and before ``libDestroy``)."""
        for port in self._all:
            port.destroy()
        self._free.clear()
        self._all.clear()


MAX_BUFFERED_KEYS = 64  # keys typed ahead of the menus; the longest entry (ticket number + code) is 20


class DigitBuffer:
    """Keys the caller pressed (RFC 4733 or SIP INFO), in order, for ``play``'s barge-in and ``collect``.

    At most ``max_keys`` wait unread: a caller (or a broken gateway) sending keys faster than any menu reads them
    loses the newest ones, counted in :attr:`dropped`, instead of growing the worker's memory."""

    def __init__(self, max_keys: int = MAX_BUFFERED_KEYS) -> None:
        self._digits: collections.deque[str] = collections.deque()
        self._event = asyncio.Event()
        self._max_keys = max_keys
        self.dropped = 0

    def push(self, digit: str) -> bool:
        """Buffer a key ("" only wakes a waiter); False when the buffer is full and the key was dropped."""
        if digit and len(self._digits) >= self._max_keys:
            self.dropped += 1
            return False
        self._digits.append(digit)
        self._event.set()
        return True

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
