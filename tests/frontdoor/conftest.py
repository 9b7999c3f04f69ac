"""Front-door fixtures: every test's child processes carry a marker in their environment, and a test that
leaves one alive (or a zombie child) fails."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_MARKER = "HOTLINE_FRONTDOOR_TEST_ID"


def _marked_processes(marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _zombie_children() -> list[int]:
    zombies = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == me:
            zombies.append(int(entry.name))
    return zombies


@pytest.fixture(autouse=True)
def no_leaked_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    value = uuid.uuid4().hex
    monkeypatch.setenv(_MARKER, value)
    yield
    marker = f"{_MARKER}={value}".encode()
    deadline = time.monotonic() + 3.0
    left = _marked_processes(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)  # an external process may take a moment to exit after its parent reaped the leader
        left = _marked_processes(marker)
    for pid in left:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    zombies = _zombie_children()
    assert not left, f"test left child processes alive: {left}"
    assert not zombies, f"test left zombie children: {zombies}"
