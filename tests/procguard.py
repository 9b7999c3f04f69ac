"""Child-process leak checks shared by the test folders that start processes: every child carries a marker in
its environment; after the test (or module) none may be alive and no zombie child may remain."""

from __future__ import annotations

import os
import time
from pathlib import Path


def marked_processes(marker: bytes) -> list[int]:
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


def zombie_children() -> list[int]:
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


def check_no_leaks(variable: str, value: str, *, grace_s: float, what: str) -> None:
    """Give marked processes ``grace_s`` to exit (an external process may take a moment after its parent reaped
    the leader), SIGKILL what is left, then fail naming the leaks."""
    marker = f"{variable}={value}".encode()
    deadline = time.monotonic() + grace_s
    left = marked_processes(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)  # polling an external process's exit, which has no event to wait on
        left = marked_processes(marker)
    for pid in left:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    zombies = zombie_children()
    assert not left, f"{what} left child processes alive: {left}"
    assert not zombies, f"{what} left zombie children: {zombies}"
