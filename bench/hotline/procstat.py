"""CPU and memory of process trees read from /proc (no psutil): utime+stime of every process in the tree, and
RSS / PSS summed over it."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ["TreeSample", "descendants", "sample_tree"]

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command may contain spaces and parentheses: split after the last ')'
    return text[text.rindex(")") + 2:].split()


def descendants(roots: Iterable[int]) -> set[int]:
    """The roots and every live process below them."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid for pid in roots if Path(f"/proc/{pid}").exists()]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


@dataclasses.dataclass(frozen=True, slots=True)
class TreeSample:
    at_s: float
    cpu_s: float  # user+system seconds of the processes alive now (since each started)
    rss_mb: float
    pss_mb: float
    processes: int
    per_pid_cpu_s: dict[int, float]

    def cpu_percent_since(self, earlier: TreeSample) -> float:
        """Percent of one core used between two samples (processes present in both; new ones counted whole)."""
        used = 0.0
        for pid, cpu in self.per_pid_cpu_s.items():
            used += cpu - earlier.per_pid_cpu_s.get(pid, 0.0)
        return 100.0 * used / max(1e-9, self.at_s - earlier.at_s)


def role_of(pid: int) -> str:
    """worker / kamailio / bare / supervisor (anything else) from the command line."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if "ivr.worker" in cmd:
        return "workers"
    if "kamailio" in cmd:
        return "kamailio"
    if "--child" in cmd:
        return "bare processes"
    return "supervisor"


def cpu_by_role(first: TreeSample, last: TreeSample) -> dict[str, float]:
    """Percent of one core per role between two samples."""
    span = max(1e-9, last.at_s - first.at_s)
    out: dict[str, float] = {}
    for pid, cpu in last.per_pid_cpu_s.items():
        role = role_of(pid)
        out[role] = out.get(role, 0.0) + 100.0 * (cpu - first.per_pid_cpu_s.get(pid, 0.0)) / span
    return {k: round(v, 1) for k, v in sorted(out.items())}


def sample_tree(roots: Iterable[int], *, memory: bool = True) -> TreeSample:
    pids = descendants(roots)
    per_pid: dict[int, float] = {}
    rss = pss = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        per_pid[pid] = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
        if memory:
            r, p = _memory_kb(pid)
            rss += r
            pss += p
    return TreeSample(time.monotonic(), sum(per_pid.values()), rss / 1024, pss / 1024, len(per_pid), per_pid)
