"""Fixtures for the real-SIP worker tests: worker processes that are always stopped (no leaked children)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sip.harness import WorkerProcess, make_tone, start_worker
from tests.sip.rawcall import RawCall


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def factory(**kwargs: Any) -> WorkerProcess:
        worker = start_worker(tmp_path / f"w{len(started)}", **kwargs)
        started.append(worker)
        return worker

    yield factory
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(worker_factory: Callable[..., WorkerProcess]) -> WorkerProcess:
    return worker_factory()


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    return make_tone(tmp_path / "tone.wav")


@pytest.fixture
def raw_call(worker: WorkerProcess) -> Iterator[RawCall]:
    """A call to ``worker`` placed by hand (tests/sip/rawcall.py), answered."""
    call = RawCall(worker.port)
    try:
        yield call
    finally:
        call.close()
