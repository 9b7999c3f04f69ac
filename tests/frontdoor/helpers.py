"""Test helpers for the front door: free ports, sipp processes, Kamailio in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from ivr.frontdoor import ChildProcess, WorkerAddress, kamailio_argv, probe_sip, write_kamailio_config
from tickets.config import Settings, settings_from_mapping

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = "/usr/bin/sipp"
KAMAILIO = Path("/usr/sbin/kamailio")


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` (the kernel picks it, so parallel tests do not collide)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def frontdoor_settings(tmp_path: Path, **sip: Any) -> Settings:
    data = {
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"},
        "paths": {"data_dir": str(tmp_path), "run_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "port": 0},
        "sip": {"host": "127.0.0.1", "port": free_port(), "public_address": "127.0.0.1", **sip},
    }
    return settings_from_mapping(data, tmp_path, env={})


@dataclasses.dataclass
class SipMessage:
    direction: str  # "received" or "sent"
    first_line: str
    headers: list[tuple[str, str]]

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def read_message_log(path: Path) -> list[SipMessage]:
    """The messages in a sipp ``-trace_msg`` log."""
    messages: list[SipMessage] = []
    if not path.exists():
        return messages
    for block in path.read_text(encoding="utf-8", errors="replace").split("-" * 47)[1:]:
        lines = block.splitlines()
        if len(lines) < 4:
            continue
        direction = "received" if "received" in lines[1] else "sent"
        body = [line for line in lines[2:]]
        while body and not body[0].strip():
            body.pop(0)
        if not body:
            continue
        headers = []
        for line in body[1:]:
            if not line.strip():
                break
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        messages.append(SipMessage(direction, body[0].strip(), headers))
    return messages


def received_call_ids(path: Path, method: str) -> set[str]:
    return {m.header("Call-ID") or "" for m in read_message_log(path)
            if m.direction == "received" and m.method == method}


class SippServer:
    """A sipp UAS standing in for a call worker, answering OPTIONS (-aa) and logging every message."""

    def __init__(self, scenario: str, port: int, log_dir: Path, host: str = "127.0.0.1") -> None:
        self.scenario = SCENARIOS / scenario
        self.port = port
        self.host = host
        self.message_log = log_dir / f"uas-{port}-messages.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> WorkerAddress:
        return WorkerAddress(self.host, self.port)

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            SIPP, "-sf", str(self.scenario), "-i", self.host, "-p", str(self.port), "-aa", "-nostdin",
            "-trace_msg", "-message_file", str(self.message_log),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        await wait_answering(self.host, self.port, lambda: self.proc is not None and self.proc.returncode is None)

    async def stop(self) -> None:
        if self.proc is not None:
            await stop_process(self.proc)

    def call_ids(self, method: str) -> set[str]:
        return received_call_ids(self.message_log, method)


async def stop_process(proc: asyncio.subprocess.Process, grace_s: float = 3.0) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            proc.kill()
    await proc.wait()


async def wait_answering(host: str, port: int, alive: Any, timeout_s: float = 10.0) -> None:
    """Poll with OPTIONS (deadline-bound) until something answers on host:port."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if not alive():
            raise AssertionError(f"process for {host}:{port} exited before answering")
        if await probe_sip(host, port, timeout_s=0.2) is not None:
            return
    raise AssertionError(f"nothing answered OPTIONS on {host}:{port} within {timeout_s} s")


@dataclasses.dataclass
class SippRun:
    returncode: int
    messages: list[SipMessage]
    log: str


async def run_sipp_client(target: tuple[str, int], scenario: str, log_dir: Path, *, calls: int,
                          local_ip: str = "127.0.0.1", rate: int = 10, call_length_ms: int = 200,
                          timeout_s: float = 30.0, extra: Sequence[str] = ()) -> SippRun:
    """Place ``calls`` calls with a sipp UAC scenario and wait for it to finish."""
    port = free_port(local_ip)
    messages = log_dir / f"uac-{port}-messages.log"
    log_file = log_dir / f"uac-{port}-logs.log"
    proc = await asyncio.create_subprocess_exec(
        SIPP, f"{target[0]}:{target[1]}", "-sf", str(SCENARIOS / scenario), "-i", local_ip, "-p", str(port),
        "-m", str(calls), "-r", str(rate), "-l", str(calls), "-d", str(call_length_ms), "-nostdin",
        "-timeout", f"{int(timeout_s)}s", "-timeout_error", "-recv_timeout", "8000",
        "-trace_msg", "-message_file", str(messages), "-trace_logs", "-log_file", str(log_file), *extra,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = await asyncio.wait_for(proc.wait(), timeout_s + 10)
    finally:
        await stop_process(proc)
    log = log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""
    return SippRun(code, read_message_log(messages), log)


@contextlib.asynccontextmanager
async def running_kamailio(settings: Settings, workers: Sequence[WorkerAddress]) -> AsyncIterator[ChildProcess]:
    """Kamailio in the foreground with the configuration rendered for ``settings``; stopped and reaped after."""
    files = write_kamailio_config(settings, workers)
    child = ChildProcess("kamailio", kamailio_argv(settings, files))
    await child.start()
    try:
        await wait_answering(settings.sip.host, settings.sip.port, lambda: child.returncode is None)
        yield child
    finally:
        await child.stop(grace_s=3.0)


@contextlib.asynccontextmanager
async def sipp_servers(scenarios: Sequence[str], log_dir: Path) -> AsyncIterator[list[SippServer]]:
    servers = [SippServer(name, port, log_dir) for name, port in zip(scenarios, free_ports(len(scenarios)))]
    try:
        for server in servers:
            await server.start()
        yield servers
    finally:
        for server in servers:
            await server.stop()
