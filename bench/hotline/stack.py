"""Starting and stopping what the bench measures: the product (``hotline serve`` as a child process, with its own
configuration in a scratch folder), and sipp runs. Every child is in its own process group and is killed with it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re

import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

__all__ = ["PROJECT_ROOT", "Ports", "Product", "SippResult", "choose_ports", "kill_group", "run_sipp",
           "write_config"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = "/usr/bin/sipp"

def _free(port: int, *, tcp: bool = True) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.bind(("127.0.0.1", port))
        except OSError:
            return False
    if tcp:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True

def _free_range(start: int, count: int, stop: int, *, tcp: bool) -> int:
    base = start
    while base + count < stop:
        bad = next((p for p in range(base, base + count) if not _free(p, tcp=tcp)), None)
        if bad is None:
            return base
        base = bad + 1
    raise RuntimeError(f"no {count} free consecutive ports in {start}-{stop}")

@dataclasses.dataclass(frozen=True, slots=True)
class Ports:
    sip: int
    web: int
    worker_base: int
    rtp_start: int
    rtp_per_worker: int
    sipp_media: int

def choose_ports(workers: int, rtp_per_worker: int) -> Ports:
    """Ports below the kernel's ephemeral range (32768+), checked free now."""
    worker_base = _free_range(16000, workers + 1, 17990, tcp=True)
    sip = _free_range(18000, 1, 18500, tcp=True)
    web = _free_range(18500, 1, 19000, tcp=True)
    sipp_media = _free_range(19000, 4, 19990, tcp=False)
    rtp_start = _free_range(20000, workers * rtp_per_worker, 32700, tcp=False)
    return Ports(sip, web, worker_base, rtp_start, rtp_per_worker, sipp_media)

def write_config(folder: Path, ports: Ports, workers: int, *, log_level: str = "INFO",
                 accept_calls_per_s: float | None = None) -> Path:
    """The product's configuration for the bench: config.yaml with a fresh SQLite store in ``folder``, the
    shared prompt cache of the checkout, Kamailio on, ``workers`` workers."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["database"]["url"] = f"sqlite+aiosqlite:///{folder / 'hotline.db'}"
    config["paths"].update(data_dir=str(folder), recordings_dir=str(folder / "recordings"),
                           run_dir=str(folder / "run"), prompt_cache_dir=str(PROJECT_ROOT / "var" / "prompts"))
    for key in ("district_file", "sample_catalog"):
        config["paths"][key] = str(PROJECT_ROOT / config["paths"][key])
    config["ivr"].update(menu_file=str(PROJECT_ROOT / "menus" / "main.yaml"),
                         prompts_dir=str(PROJECT_ROOT / "menus" / "prompts" / "zh"))
    config["asr"]["model_path"] = str(PROJECT_ROOT / config["asr"]["model_path"])
    config["web"].update(host="127.0.0.1", port=ports.web)
    config["sip"].update(host="127.0.0.1", port=ports.sip, workers=workers, worker_base_port=ports.worker_base,
                         rtp_port_start=ports.rtp_start, rtp_ports_per_worker=ports.rtp_per_worker,
                         transports=["udp"])
    config["sip"]["kamailio"] = {"enabled": "yes"}
    if accept_calls_per_s is not None:
        config["sip"]["accept_calls_per_s"] = accept_calls_per_s
    config["logging"] = {"level": log_level}
    config["security"] = {"secret_key": "bench-secret-key-0123456789abcdef", "admin_token": "bench-admin"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path

def kill_group(proc: asyncio.subprocess.Process | None, sig: int = signal.SIGKILL) -> None:
    if proc is not None and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

async def stop_child(proc: asyncio.subprocess.Process | None, grace_s: float) -> None:
    """SIGTERM to the child, SIGKILL to its whole process group after the grace period (and always after:
    nothing it started may outlive the bench)."""
    if proc is None:
        return
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()

class Product:
    """``hotline serve --config FILE`` in its own process group; ready when /healthz says ok."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.web_port = int(yaml.safe_load(config.read_text())["web"]["port"])

    async def start(self, timeout_s: float) -> float:
        started = time.monotonic()
        log = self.log_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ivr.cli", "--config", str(self.config), "serve", "--grace", "5",
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                cwd=str(PROJECT_ROOT))
        finally:
            log.close()
        while time.monotonic() - started < timeout_s:
            if self.proc.returncode is not None:
                raise RuntimeError(f"hotline serve exited with {self.proc.returncode}; see {self.log_path}")
            health = await asyncio.to_thread(self.health)
            if health and health.get("status") == "ok":
                return time.monotonic() - started
            await asyncio.sleep(1.0)
        raise RuntimeError(f"hotline serve not healthy within {timeout_s:.0f} s; see {self.log_path}")

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/healthz", timeout=2) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self) -> None:
        await stop_child(self.proc, 20.0)

@dataclasses.dataclass
class SippResult:
    returncode: int
    total: int
    successful: int
    failed: int
    reasons: dict[str, int]
    errors_tail: str
    wall_s: float

_STAT_FIELDS = ("SuccessfulCall(C)", "FailedCall(C)", "OutgoingCall(C)", "TotalCallCreated")

def _parse_stat_csv(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    names = lines[0].split(";")
    values = lines[-1].split(";")
    return dict(zip(names, values))

class SippRun:
    """One sipp UAC run (``scenarios/uac_ivr.xml``), started now, awaited later."""

    def __init__(self, target: tuple[str, int], folder: Path, name: str, *, calls: int, limit: int, rate: float,
                 hold_ms: int, media_port: int, keyat_ms: int, timeout_s: float) -> None:
        self.folder = folder
        self.name = name
        self.calls = calls
        scenario = (SCENARIOS / "uac_ivr.xml").read_text().replace("[keyat_ms]", str(keyat_ms))
        self.scenario = folder / f"{name}.xml"
        self.scenario.write_text(scenario)
        self.stat = folder / f"{name}_stat.csv"
        self.errors = folder / f"{name}_errors.log"
        self.screen = folder / f"{name}_screen.log"
        self.argv = [SIPP, f"{target[0]}:{target[1]}", "-sf", str(self.scenario), "-i", "127.0.0.1", "-p", "0",
                     "-mi", "127.0.0.1", "-mp", str(media_port), "-m", str(calls), "-l", str(limit),
                     "-r", str(rate), "-rp", "1000", "-d", str(hold_ms), "-nostdin", "-timeout", f"{int(timeout_s)}s",
                     "-recv_timeout", "20000", "-max_recv_loops", "5000", "-max_sched_loops", "5000",
                     "-trace_stat", "-stf", str(self.stat), "-fd", "1", "-trace_err", "-error_file", str(self.errors),
                     "-trace_screen", "-screen_file", str(self.screen)]
        self.proc: asyncio.subprocess.Process | None = None
        self.started = 0.0
        self.timeout_s = timeout_s

    async def start(self) -> None:
        self.started = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True, cwd=str(self.folder))

    def progress(self) -> dict[str, str]:
        return _parse_stat_csv(self.stat)

    async def wait(self) -> SippResult:
        assert self.proc is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), self.timeout_s + 15)
        except TimeoutError:
            code = -9
        finally:
            await stop_child(self.proc, 3.0)
        wall = time.monotonic() - self.started
        stats = _parse_stat_csv(self.stat)
        success = int(stats.get("SuccessfulCall(C)", 0) or 0)
        failed = int(stats.get("FailedCall(C)", 0) or 0)
        reasons: dict[str, int] = {}
        for key, value in stats.items():
            if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)" and value not in ("", "0"):
                reasons[key[:-3]] = int(value)
        tail = summarize_errors(self.errors)
        never = self.calls - success - failed
        if never > 0:
            reasons["NotCompleted"] = never
            failed += never
        return SippResult(code, self.calls, success, failed, reasons, tail, wall)

def summarize_errors(path: Path) -> str:
    """sipp's error file boiled down: what arrived unexpectedly, and which step timed out, with counts."""
    if not path.exists():
        return ""
    text = path.read_text(errors="replace")
    counts: dict[str, int] = {}
    for match in re.finditer(r"while expecting '([^']*)' \(index \d+\), received '([^\r\n]*)", text):
        what = " ".join(match.group(2).split()[:3])
        key = f"{what} while expecting {match.group(1)}"
        counts[key] = counts.get(key, 0) + 1
    for match in re.finditer(r"receive timeout on message [^:]*:(\d+)", text):
        key = f"receive timeout at scenario step {match.group(1)}"
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
    return ", ".join(f"{n} x {k}" for k, n in ordered)


async def run_sipp(*args: Any, **kwargs: Any) -> SippResult:
    run = SippRun(*args, **kwargs)
    await run.start()
    return await run.wait()

def sipp_current_calls(run: SippRun) -> int:
    stats = run.progress()
    try:
        return int(stats.get("CurrentCall", 0) or 0)
    except ValueError:
        return 0

