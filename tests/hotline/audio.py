"""What a caller heard, checked against the prompt library's own WAV files (numpy, test-only).

The worker plays a list of WAVs through one pjsua2 playlist (ivr.media.start_player): back to back, sample for
sample, NOT padded to 20 ms frames (only the end of the whole list is filled up to a frame). Inside a composed
sentence every file but the last is a fragment, the file without its silence (PromptSource.fragment), so the
templates to match are the paths the Speaker returns, not the whole sentence files. The caller's recording is
those files in sequence, through PCMA and the caller's jitter buffer. That jitter buffer now and then drops or
repeats 10-20 ms (measured here: a few such slips in a long sentence on a loaded machine), which ruins the
normalized cross-correlation (NCC) of a whole sentence. So a WAV is matched as 50 ms segments placed one after
another with a little slack, scored by their energy-weighted NCC; a known phrase is located by the best few NCC
peaks of its first 0.5 s, each followed through the whole phrase; and digits are read by walking piece by piece,
trying every digit's WAV at each position, the next piece expected right where the previous one ended (exact
lengths). Right pieces score ~1.0 (0.8 with a slip inside), the runner-up at least ~0.35 less.

:func:`seconds` rounds every file up to whole frames: a slight overestimate of the playing time, meant for how
long a caller waits, not for positions.
"""

from __future__ import annotations

import dataclasses
import wave
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

RATE_HZ = 8000
FRAME = 160  # samples per 20 ms frame
SLACK = 480  # samples (60 ms) a piece may start away from where the previous one ended
SEGMENT = 400  # samples (50 ms) placed one after another when matching a piece
SEGMENT_SLACK = 120  # samples a segment may move against the previous one (a jitter-buffer slip is 80-160)


def load(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == RATE_HZ and wav.getnchannels() == 1 and wav.getsampwidth() == 2, path
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def padded_len(samples: np.ndarray) -> int:
    """The length rounded up to whole 20 ms frames: an upper bound of how long the file plays."""
    return -(-len(samples) // FRAME) * FRAME


def seconds(paths: Sequence[Path]) -> float:
    """How long the worker takes to play these WAVs, at most (each rounded up to whole frames): for waits."""
    return sum(padded_len(load(p)) for p in paths) / RATE_HZ


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * RATE_HZ / len(samples))


def ncc_curve(template: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """NCC of ``template`` at every offset of ``signal`` (valid positions only), by FFT."""
    n, m = len(signal), len(template)
    if n < m or m == 0:
        return np.zeros(0)
    size = 1 << (n + m).bit_length()
    t = template - template.mean()
    corr = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(t, size)), size)[: n - m + 1]
    cs = np.concatenate(([0.0], np.cumsum(signal)))
    cs2 = np.concatenate(([0.0], np.cumsum(signal**2)))
    sums = cs[m:] - cs[:-m]
    energy = (cs2[m:] - cs2[:-m]) - sums**2 / m
    denom = np.sqrt(np.maximum(energy, 1e-9)) * np.linalg.norm(t)
    return corr / np.maximum(denom, 1e-9)


@dataclasses.dataclass(frozen=True)
class Hit:
    offset: int  # samples into the recording
    score: float

    @property
    def seconds(self) -> float:
        return self.offset / RATE_HZ


def find(template: np.ndarray, signal: np.ndarray, start: int = 0, end: int | None = None) -> Hit:
    """The best match of ``template`` starting in ``[start, end]``."""
    end = len(signal) if end is None else min(end, len(signal))
    lo = max(0, start)
    curve = ncc_curve(template, signal[lo : end + len(template)])
    if not len(curve):
        return Hit(lo, 0.0)
    i = int(np.argmax(curve))
    return Hit(lo + i, float(curve[i]))


def _placed(template: np.ndarray, signal: np.ndarray, pos: int) -> tuple[Hit, int]:
    """``template`` heard about sample ``pos``: (where it started and how well it matched, where it ended). The
    score is its segments' NCC weighted by their energy."""
    start: Hit | None = None
    at, slack = pos, SLACK
    total = weight = 0.0
    consumed = 0
    quiet = 0.02 * float(np.max(np.abs(template))) if len(template) else 0.0
    for lo in range(0, max(1, len(template) - SEGMENT // 2), SEGMENT):
        part = template[lo : lo + SEGMENT]
        if start is not None and rms(part) < quiet:  # silence inside or after the voice: nothing to place
            at, consumed = at + len(part), lo + len(part)
            continue
        hit = find(part, signal, at - slack, at + slack)
        start = start or Hit(hit.offset - lo, 0.0)
        energy = float(np.sum((part - part.mean()) ** 2))
        total += hit.score * energy
        weight += energy
        at, slack = hit.offset + len(part), SEGMENT_SLACK
        consumed = lo + len(part)
    assert start is not None
    return Hit(start.offset, total / weight if weight else 0.0), at + len(template) - consumed


def piece(template: np.ndarray, signal: np.ndarray, pos: int) -> tuple[Hit, int]:
    """The piece heard about sample ``pos``: (where it started and how well it matched, where the next piece
    starts: right after it, the playlist does not pad)."""
    return _placed(template, signal, pos)


@dataclasses.dataclass(frozen=True)
class Decoded:
    symbols: str
    scores: tuple[float, ...]
    margins: tuple[float, ...]  # best score minus the runner-up's, per piece
    start: Hit  # the first piece
    end: int  # sample after the last piece


def decode(signal: np.ndarray, at: int, count: int, pieces: Mapping[str, np.ndarray]) -> Decoded:
    """Read ``count`` pieces (each one of ``pieces``) played back to back from about sample ``at``."""
    symbols: list[str] = []
    scores: list[float] = []
    margins: list[float] = []
    first: Hit | None = None
    pos = at
    for _ in range(count):
        tried = sorted(((*piece(template, signal, pos), symbol) for symbol, template in pieces.items()),
                       key=lambda t: t[0].score, reverse=True)
        (best, end, symbol), runner_up = tried[0], tried[1][0]
        symbols.append(symbol)
        scores.append(round(best.score, 3))
        margins.append(round(best.score - runner_up.score, 3))
        first = first or best
        pos = end
    assert first is not None
    return Decoded("".join(symbols), tuple(scores), tuple(margins), first, pos)


def follow(signal: np.ndarray, at: int, sequence: Sequence[np.ndarray]) -> list[Hit]:
    """How well each piece of a known sequence, played back to back from about sample ``at``, was heard."""
    hits = []
    pos = at
    for template in sequence:
        hit, pos = piece(template, signal, pos)
        hits.append(hit)
    return hits


def _candidates(template: np.ndarray, signal: np.ndarray, count: int = 5) -> list[int]:
    """Where ``template`` may start: the best few peaks of its first 0.5 s (a whole long phrase correlates badly
    once the jitter buffer has dropped a frame or two inside it)."""
    curve = ncc_curve(template[: RATE_HZ // 2], signal)
    starts: list[int] = []
    for i in np.argsort(curve)[::-1]:
        if all(abs(int(i) - s) > FRAME * 10 for s in starts):
            starts.append(int(i))
        if len(starts) == count:
            break
    return starts


def phrase_end(template: np.ndarray, signal: np.ndarray, near: int | None = None) -> Hit:
    """Where the piece after a known phrase starts (the phrase heard anywhere, or about sample ``near``); the
    score says how well the phrase matched."""
    starts = _candidates(template, signal) if near is None else [near]
    hit, end = max((_placed(template, signal, start) for start in starts), key=lambda t: t[0].score)
    return Hit(end, hit.score)


def heard_in_order(signal: np.ndarray, sequence: Sequence[Path]) -> list[Hit]:
    """Where ``sequence`` (WAVs played back to back) was heard: each likely start of its first WAV is followed
    through the rest, and the start whose pieces match best wins."""
    templates = [load(p) for p in sequence]
    tried = [follow(signal, start, templates) for start in _candidates(templates[0], signal)]
    return max(tried, key=lambda hits: sum(h.score for h in hits))
