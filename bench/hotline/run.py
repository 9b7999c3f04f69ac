"""bench/hotline: concurrent calls with RTP through the whole hotline (Kamailio + pjsua2 workers running the real
call flow on the real SQLite store), compared with a bare pjsua2 answering pool behind the same Kamailio.

    .venv/bin/python -m bench.hotline.run                      # steps 32,64,128,256, then 50 calls/s, then bare
    .venv/bin/python -m bench.hotline.run --steps 32,64 --skip-rate

For each step N: sipp (scenarios/uac_ivr.xml) places N - P calls and this process places P measuring calls
(probe.py), ramped at --ramp-cps. Each sipp call streams RTP (g711a.pcap), presses key 3 (RFC 4733) during the main
menu, streams RTP again and holds; the measuring calls press 3 then 9 after each prompt has ended and time the
next prompt. CPU and memory are read from /proc over every process of the tested tree (``hotline serve`` with its
workers and Kamailio; the bare pool with its processes and Kamailio) while all N calls are up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.hotline import probe, procstat, stack

__all__ = ["main"]

PROBE_KEYS = ["3", "9", "3", "9"]


@dataclasses.dataclass
class StepResult:
    label: str
    concurrent: int
    calls: int
    failed: int
    reasons: dict[str, int]
    cpu_pct: float
    rss_mb: float
    pss_mb: float
    processes: int
    window_s: float
    key_ms: list[float]
    missed_keys: int
    setup_ms: list[float]
    note: str = ""
    product_errors: dict[str, int] = dataclasses.field(default_factory=dict)
    cpu_roles: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def cpu_per_call(self) -> float:
        return self.cpu_pct / self.concurrent if self.concurrent else float("nan")


_LOG_PATTERNS = {
    "flow failed": "the flow failed",
    "call record not saved": "saving the call record failed",
    "database is locked": "sqlite3.OperationalError: database is locked",
    "pjsua refused (486)": "Unable to accept incoming call",
    "no media": "no media, hanging up",
    "handler failed": "handler failed",
    "to an agent": ": to an agent",
    "worker exited": "restarting in",
}


def count_log(path: Path | None, offset: int) -> dict[str, int]:
    """Problems the product logged since ``offset`` (its log is the supervisor's stderr, workers included)."""
    if path is None or not path.exists():
        return {}
    with path.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", "replace")
    found = {name: text.count(pattern) for name, pattern in _LOG_PATTERNS.items()}
    return {name: n for name, n in found.items() if n}


def _size(path: Path | None) -> int:
    return path.stat().st_size if path is not None and path.exists() else 0


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[index]


class BarePool:
    def __init__(self, config: Path, wav: Path, workers: int, log_path: Path) -> None:
        self.config = config
        self.wav = wav
        self.workers = workers
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout_s: float) -> float:
        started = time.monotonic()
        log = self.log_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.hotline.bare_pool", "--config", str(self.config), "--wav", str(self.wav),
                "--workers", str(self.workers), stdout=asyncio.subprocess.PIPE, stderr=log,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True, cwd=str(stack.PROJECT_ROOT))
        finally:
            log.close()
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout_s)
        if not line.startswith(b"READY"):
            raise RuntimeError(f"bare pool did not start ({line!r}); see {self.log_path}")
        port = int(line.split()[1])
        from ivr.frontdoor import probe_sip  # noqa: PLC0415

        while time.monotonic() - started < timeout_s:
            if await probe_sip("127.0.0.1", port, timeout_s=0.3) is not None:
                return time.monotonic() - started
        raise RuntimeError("the bare pool's Kamailio does not answer")

    async def stop(self) -> None:
        pids = procstat.descendants([self.proc.pid]) if self.proc else set()
        await stack.stop_child(self.proc, 10.0)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


async def run_step(label: str, target: tuple[str, int], root: int, folder: Path, *, concurrent: int, probes: int,
                   ramp_cps: float, steady_s: float, keyat_ms: int, media_port: int, measure_keys: bool,
                   log_path: Path | None = None) -> StepResult:
    log_offset = _size(log_path)
    probes = min(probes, concurrent)
    sipp_calls = concurrent - probes
    ramp_s = concurrent / ramp_cps
    call_s = ramp_s + steady_s  # every call is up from ramp_s to call_s
    hold_ms = int(call_s * 1000) - keyat_ms - 400
    run = stack.SippRun(target, folder, f"{label}-{concurrent}", calls=sipp_calls, limit=max(1, sipp_calls),
                        rate=ramp_cps * sipp_calls / concurrent if sipp_calls else 1, hold_ms=hold_ms,
                        media_port=media_port, keyat_ms=keyat_ms, timeout_s=call_s + ramp_s + 60)
    started = time.monotonic()
    if sipp_calls:
        await run.start()

    async def one_probe(i: int) -> probe.ProbeResult:
        await asyncio.sleep(i * ramp_s / max(1, probes))
        return await probe.probe_call(target, keys=PROBE_KEYS if measure_keys else [], hold_s=call_s - ramp_s * i / max(1, probes),
                                      number=f"139{i:08d}")

    probe_tasks = [asyncio.create_task(one_probe(i)) for i in range(probes)]
    try:
        await asyncio.sleep(ramp_s + 2.0)
        first = procstat.sample_tree([root])
        window_end = started + call_s - 1.0
        await asyncio.sleep(max(1.0, window_end - time.monotonic()))
        last = procstat.sample_tree([root])
        roles = procstat.cpu_by_role(first, last)
        results = await asyncio.gather(*probe_tasks)
        sipp = await run.wait() if sipp_calls else None
    finally:
        for task in probe_tasks:
            task.cancel()
        await asyncio.gather(*probe_tasks, return_exceptions=True)
        if run.proc is not None and run.proc.returncode is None:
            await stack.stop_child(run.proc, 2.0)
    with (folder / "probes.log").open("a", encoding="utf-8") as plog:
        for i, r in enumerate(results):
            plog.write(f"{label} {concurrent} probe {i}: ok={r.ok} {r.error} setup={_fmt(r.setup_ms)} ms "
                       f"first audio={_fmt(r.first_audio_ms)} ms; " + "; ".join(r.log) + "\n")
    reasons = dict(sipp.reasons) if sipp else {}
    failed = sipp.failed if sipp else 0
    for r in results:
        if not r.ok:
            failed += 1
            reasons[f"probe: {r.error}"] = reasons.get(f"probe: {r.error}", 0) + 1
    note = sipp.errors_tail if sipp and sipp.failed else ""
    await asyncio.sleep(1.0)  # the supervisor relays the workers' last lines
    return StepResult(label, concurrent, concurrent, failed, reasons, last.cpu_percent_since(first),
                      last.rss_mb, last.pss_mb, last.processes, last.at_s - first.at_s,
                      [ms for r in results for _k, ms in r.key_delays_ms], sum(r.missed_keys for r in results),
                      [r.setup_ms for r in results if r.setup_ms is not None], note, count_log(log_path, log_offset),
                      roles)


async def run_rate(label: str, target: tuple[str, int], root: int, folder: Path, *, cps: float, duration_s: float,
                   hold_ms: int, media_port: int, log_path: Path | None = None) -> StepResult:
    log_offset = _size(log_path)
    calls = int(cps * duration_s)
    run = stack.SippRun(target, folder, f"{label}-rate{int(cps)}", calls=calls, limit=calls, rate=cps,
                        hold_ms=hold_ms, media_port=media_port, keyat_ms=1000, timeout_s=duration_s + 60)
    await run.start()
    await asyncio.sleep(2.0)
    first = procstat.sample_tree([root])
    await asyncio.sleep(max(1.0, duration_s - 2.5))
    last = procstat.sample_tree([root])
    sipp = await run.wait()
    return StepResult(f"{label} {cps:g}/s", int(cps), calls, sipp.failed, sipp.reasons, last.cpu_percent_since(first),
                      last.rss_mb, last.pss_mb, last.processes, last.at_s - first.at_s, [], 0, [],
                      sipp.errors_tail if sipp.failed else "", count_log(log_path, log_offset))


async def settle(root: int, idle_cpu: float, *, limit_s: float = 60.0) -> float:
    """Wait until the tree is back near its idle CPU (the previous step's calls and retransmissions are over)."""
    started = time.monotonic()
    cpu = float("inf")
    while time.monotonic() - started < limit_s:
        cpu, _ = await idle_sample(root, 2.0, memory=False)
        if cpu <= idle_cpu * 1.25 + 10:
            break
    return time.monotonic() - started


async def idle_sample(root: int, seconds: float, *, memory: bool = True) -> tuple[float, procstat.TreeSample]:
    first = procstat.sample_tree([root], memory=False)
    await asyncio.sleep(seconds)
    last = procstat.sample_tree([root], memory=memory)
    return last.cpu_percent_since(first), last


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _key_pct(r: StepResult, q: float) -> str:
    """A key-to-prompt percentile where a key with no next prompt within 5 s counts as slower than any other."""
    values = r.key_ms + [float("inf")] * r.missed_keys
    value = _pct(values, q)
    return ">5000" if value == float("inf") else _fmt(value)


def print_table(product: list[StepResult], bare: dict[int, StepResult], out: list[str]) -> None:
    header = (f"{'step':<14}{'concurrent':>10}{'failed':>8}{'CPU%':>8}{'RSS MB':>9}{'PSS MB':>9}{'CPU%/call':>10}"
              f"{'bare/call':>10}{'ratio':>7}{'key p50':>9}{'key p95':>9}{'keys':>6}{'flow err':>9}")
    out.append(header)
    out.append("-" * len(header))
    for r in product:
        b = bare.get(r.concurrent) if not r.label.endswith("/s") else None
        ratio = r.cpu_per_call / b.cpu_per_call if b and b.cpu_per_call > 0 else None
        out.append(f"{r.label:<14}{r.concurrent:>10}{r.failed:>8}{r.cpu_pct:>8.0f}{r.rss_mb:>9.0f}{r.pss_mb:>9.0f}"
                   f"{r.cpu_per_call:>10.2f}{_fmt(b.cpu_per_call if b else None, 2):>10}{_fmt(ratio, 2):>7}"
                   f"{_key_pct(r, 50):>9}{_key_pct(r, 95):>9}{len(r.key_ms) + r.missed_keys:>6}"
                   f"{r.product_errors.get('flow failed', 0) + r.product_errors.get('call record not saved', 0):>9}")
    for r in bare.values():
        out.append(f"{'bare ' + str(r.concurrent):<14}{r.concurrent:>10}{r.failed:>8}{r.cpu_pct:>8.0f}{r.rss_mb:>9.0f}"
                   f"{r.pss_mb:>9.0f}{r.cpu_per_call:>10.2f}")
    for r in [*product, *bare.values()]:
        if r.failed or r.missed_keys or r.product_errors:
            out.append(f"  {r.label} {r.concurrent}: {r.failed} failed {r.reasons}; {r.missed_keys} keys without a "
                       f"next prompt within 5 s" + (f"; sipp saw: {r.note}" if r.note else "")
                       + (f"; product log: {r.product_errors}" if r.product_errors else ""))


MAIN_MENU = "查询工单办理进度请按1，投诉、求助、建议、咨询、举报请按2，办事指南请按3，人工服务请按0。"


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.lines: list[str] = []
        self.product: list[StepResult] = []
        self.bare: dict[int, StepResult] = {}
        self.round = 0

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)

    def _setup(self, workers: int) -> tuple[Path, stack.Ports]:
        self.round += 1
        ports = stack.choose_ports(workers, self.args.rtp_ports_per_worker)
        config = stack.write_config(self.folder / f"product{self.round}", ports, workers, log_level=self.args.log_level)
        return config, ports

    async def _steps(self, label: str, root: int, ports: stack.Ports, steps: list[int], idle_cpu: float,
                     measure_keys: bool, log_path: Path | None = None) -> list[StepResult]:
        out = []
        for n in steps:
            waited = await settle(root, idle_cpu)
            r = await run_step(label, ("127.0.0.1", ports.sip), root, self.folder, concurrent=n,
                               probes=self.args.probes, ramp_cps=self.args.ramp_cps, steady_s=self.args.steady_s,
                               keyat_ms=self.args.keyat_ms, media_port=ports.sipp_media, measure_keys=measure_keys,
                               log_path=log_path)
            out.append(r)
            keys = (f", key->prompt p50 {_key_pct(r, 50)} ms p95 {_key_pct(r, 95)} ms "
                    f"(n={len(r.key_ms)}, missed {r.missed_keys})" if measure_keys else "")
            self.say(f"{label} {n}: failed {r.failed} {r.reasons or ''}, CPU {r.cpu_pct:.0f}% over {r.window_s:.0f} s, "
                     f"RSS {r.rss_mb:.0f} MB, PSS {r.pss_mb:.0f} MB{keys} (settled {waited:.0f} s before)"
                     + (f"; product log: {r.product_errors}" if r.product_errors else "")
                     + f"; CPU% by role {r.cpu_roles}")
        return out

    async def run_product(self, steps: list[int], workers: int, *, rate: bool) -> None:
        config, ports = self._setup(workers)
        product = stack.Product(config, self.folder / f"serve{self.round}.log")
        pids: set[int] = set()
        try:
            start_s = await product.start(self.args.start_timeout_s)
            pids = procstat.descendants([product.pid])
            idle_cpu, idle = await idle_sample(product.pid, 5.0)
            self.say(f"product, {workers} workers: ready in {start_s:.0f} s; idle {idle_cpu:.0f}% CPU, RSS "
                     f"{idle.rss_mb:.0f} MB, PSS {idle.pss_mb:.0f} MB over {idle.processes} processes")
            self.product += await self._steps("product", product.pid, ports, steps, idle_cpu, True,
                                               product.log_path)
            if rate:
                waited = await settle(product.pid, idle_cpu)
                r = await run_rate("product", ("127.0.0.1", ports.sip), product.pid, self.folder, cps=self.args.cps,
                                   duration_s=self.args.cps_duration_s, hold_ms=self.args.rate_hold_ms,
                                   media_port=ports.sipp_media, log_path=product.log_path)
                self.product.append(r)
                self.say(f"product {self.args.cps:g} calls/s for {self.args.cps_duration_s:g} s: {r.calls} calls, "
                         f"failed {r.failed} {r.reasons or ''}, CPU {r.cpu_pct:.0f}% (settled {waited:.0f} s before)"
                         + (f"; product log: {r.product_errors}" if r.product_errors else ""))
            health = await asyncio.to_thread(product.health)
            if health:
                restarts = sum(w.get("restarts", 0) for w in health.get("workers", []))
                self.say(f"product health after the run: {health.get('status')}, worker restarts {restarts}")
            else:
                self.say("product health after the run: /healthz did not answer")
        finally:
            pids |= procstat.descendants([product.proc.pid]) if product.proc else set()
            await product.stop()
            _kill_all(pids)

    async def run_bare(self, steps: list[int], workers: int) -> None:
        config, ports = self._setup(workers)
        from ivr.prompts import PromptLibrary  # noqa: PLC0415
        from tickets.config import load_settings  # noqa: PLC0415

        wav = PromptLibrary(load_settings(config, env={})).text(MAIN_MENU, "main_menu")
        pool = BarePool(config, wav, workers, self.folder / f"bare{self.round}.log")
        try:
            start_s = await pool.start(self.args.start_timeout_s)
            idle_cpu, idle = await idle_sample(pool.pid, 5.0)
            self.say(f"bare pool, {workers} processes: ready in {start_s:.0f} s; idle {idle_cpu:.0f}% CPU, RSS "
                     f"{idle.rss_mb:.0f} MB, PSS {idle.pss_mb:.0f} MB over {idle.processes} processes")
            for r in await self._steps("bare", pool.pid, ports, steps, idle_cpu, False):
                self.bare[r.concurrent] = r
        finally:
            await pool.stop()


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _workers_for(calls: int) -> int:
    return max(1, math.ceil(calls / 3))


async def bench(args: argparse.Namespace) -> int:
    steps = [int(s) for s in args.steps.split(",") if s]
    folder = Path(args.out or tempfile.mkdtemp(prefix="hotline-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    b = Bench(args, folder)
    # calls of the rate test last ~1 s (key) + 0.4 s + hold + set-up; 1.5x headroom for round-robin dispatch
    rate_workers = _workers_for(int(1.5 * args.cps * (1.0 + 0.4 + args.rate_hold_ms / 1000 + 0.6)))
    shared = args.workers or _workers_for(max(steps + [0]))
    mode = "a pool sized for each step" if args.size_per_step else f"{shared} workers for every step"
    b.say(f"# bench/hotline {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} cores, {mode} "
          f"(3 calls each), steps {steps}, ramp {args.ramp_cps:g} calls/s, up to {args.probes} measuring calls per "
          f"step; logs in {folder}")
    if args.size_per_step:
        for n in steps:
            await b.run_product([n], _workers_for(n), rate=False)
            if not args.skip_bare:
                await b.run_bare([n], _workers_for(n))
        if not args.skip_rate:
            await b.run_product([], rate_workers, rate=True)
    else:
        await b.run_product(steps, max(shared, 0 if args.skip_rate else rate_workers), rate=not args.skip_rate)
        if not args.skip_bare:
            await b.run_bare(steps, shared)
    b.say("")
    b.say("CPU% = percent of one core summed over the tested tree (200 = both cores); RSS double-counts shared "
          "pages, PSS does not; CPU%/call = CPU% / concurrent calls; key = ms from the first RFC 4733 packet sent to "
          "the first audio RTP packet of the next prompt (p50/p95 over the measuring calls)")
    table: list[str] = []
    print_table(b.product, b.bare, table)
    for line in table:
        b.say(line)
    (folder / "results.txt").write_text("\n".join(b.lines) + "\n", encoding="utf-8")
    (folder / "results.json").write_text(json.dumps(
        {"product": [dataclasses.asdict(r) for r in b.product],
         "bare": [dataclasses.asdict(r) for r in b.bare.values()]}, indent=1), encoding="utf-8")
    print(f"results in {folder / 'results.txt'}", flush=True)
    return 0 if all(r.failed == 0 for r in b.product) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="32,64,128,256", help="concurrent calls per step (default 32,64,128,256)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: largest step / 3)")
    parser.add_argument("--ramp-cps", type=float, default=25.0, help="new calls per second while ramping a step")
    parser.add_argument("--steady-s", type=float, default=30.0, help="seconds every call of a step is up together")
    parser.add_argument("--probes", type=int, default=16, help="measuring calls per step (part of the N calls)")
    parser.add_argument("--keyat-ms", type=int, default=8000, help="when sipp callers press 3 (during the main menu)")
    parser.add_argument("--cps", type=float, default=50.0, help="new calls per second for the rate test")
    parser.add_argument("--cps-duration-s", type=float, default=10.0)
    parser.add_argument("--rate-hold-ms", type=int, default=1000, help="hold after the key in the rate test")
    parser.add_argument("--size-per-step", action="store_true",
                        help="start the product and the bare pool anew for each step, sized ceil(N/3) workers")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--rtp-ports-per-worker", type=int, default=40)
    parser.add_argument("--start-timeout-s", type=float, default=300.0)
    parser.add_argument("--log-level", default="INFO", help="the product's logging.level (default INFO, as shipped)")
    parser.add_argument("--out", help="folder for logs and results (default: a new folder under /tmp)")
    args = parser.parse_args(argv)
    loop = asyncio.new_event_loop()
    task = loop.create_task(bench(args))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        print("interrupted: every process started by the bench was stopped", file=sys.stderr)
        return 130
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
