"""Recording through pjsua2's recorder (ivr.pjcall.PjCall.record): how a recording ends and what is kept.

The demo flow (ivr.demo) reads keys back, then records after a beep; the worker under test has
``recording_silence_s = 3`` and ``recording_max_s = 20`` (tests/sip/harness.py) unless a test says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from .harness import WorkerProcess, make_tone, run_caller, wav_rms, wav_seconds

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def _saved(worker: WorkerProcess) -> tuple[Path, float, str]:
    log = worker.wait_log("ended_by=")
    (match,) = re.findall(r"DEMO \S+ recording=(\S+) duration=(\S+) ended_by=(\S+)", log)
    return Path(match[0]), float(match[1]), match[2]


def test_recording_ends_on_silence_and_keeps_half_a_second_of_it(worker: WorkerProcess, tone: Path) -> None:
    """A 2 s tone, then the caller says nothing: the worker ends the recording after 3 s of silence (the
    recorder's level, read every 100 ms) and keeps 0.5 s of that silence."""
    (result,) = run_caller(worker.target, "wait_audio", "dtmf:5#", "wait_silence:0.8", f"play:{tone}",
                           "wait_audio:10", "wait_silence:1")
    assert result["answered"] and not result["errors"], result
    assert result["ended_by"] == "remote"  # thanks, goodbye: the worker hung up after the silence
    path, duration_s, ended_by = _saved(worker)
    assert ended_by == "silence"
    # the caller waits 0.8 s of silence after the beep, then sends the 2 s tone: ~0.8 + 2 + 0.5 s are kept
    assert 2.9 <= duration_s <= 3.8, duration_s
    assert wav_seconds(path) == pytest.approx(duration_s, abs=0.01)
    assert wav_rms(path, duration_s - 2.4, duration_s - 0.7) > 1000, "the caller's tone did not reach the recording"
    assert wav_rms(path, duration_s - 0.35) < 300, "the kept tail is not silence"
    assert not list(path.parent.glob("*.part.wav")), "the recorder's working file was left behind"
    assert "Traceback" not in worker.log()


def test_recording_stops_at_the_maximum_length(worker_factory: Callable[..., WorkerProcess], tmp_path: Path) -> None:
    worker = worker_factory(extra={"ivr": {"recording_max_s": 2}})
    long_tone = make_tone(tmp_path / "long.wav", seconds=4.0)
    (result,) = run_caller(worker.target, "wait_audio", "dtmf:5#", "wait_silence:0.8", f"play:{long_tone}",
                           "wait_audio:10", "wait_silence:1")
    assert result["answered"] and not result["errors"], result
    path, duration_s, ended_by = _saved(worker)
    assert ended_by == "max_length"
    assert 1.9 <= duration_s <= 2.0, duration_s
    assert wav_rms(path, 0.2) > 1000
