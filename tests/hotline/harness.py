"""End-to-end harness: the real product (``hotline serve``: supervisor, pjsua2 workers with the YAML call flow on
the real ticket store, Kamailio when asked) in a child process, and real SIP clients (the pjsua2 caller of
tests/sip/caller.py, sipp, baresip) calling it over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.frontdoor.helpers import KAMAILIO, free_port, free_ports
from tests.sip.harness import CALLER, PROJECT_ROOT
from tickets.config import Settings, load_settings
from tickets.enums import Channel, Kind
from tickets.store import Store
from tickets.views import Actor, NewTicket, TicketView

PYTHON = sys.executable
HOTLINE = Path(sys.executable).with_name("hotline")
PROMPT_CACHE = PROJECT_ROOT / "var" / "test-prompts"  # shared with the other tests: rendered once per machine

# The two ways a call reaches a worker: straight to the one worker on the public port, or through Kamailio (one
# worker behind it here: the flows, not the spreading, are under test). A module fixture parametrized by these
# runs every flow test of the module both ways.
FRONT_DOORS = [
    pytest.param(False, id="direct"),
    pytest.param(True, id="kamailio",
                 marks=pytest.mark.skipif(not KAMAILIO.exists(), reason="needs the Debian package kamailio")),
]


def hotline_config(folder: Path, *, kamailio: bool, workers: int = 1, agent_port: int | None = None,
                   sip: dict[str, Any] | None = None, ivr: dict[str, Any] | None = None) -> dict[str, Any]:
    """The project's config.yaml moved to ``folder``, on free ports, with short timeouts for tests."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["database"]["url"] = f"sqlite+aiosqlite:///{folder / 'hotline.db'}"
    config["web"] = {"host": "127.0.0.1", "port": free_port()}
    config["paths"].update(data_dir=str(folder), recordings_dir=str(folder / "recordings"), run_dir=str(folder / "run"),
                           prompt_cache_dir=str(PROMPT_CACHE))
    for key in ("district_file", "sample_catalog"):
        config["paths"][key] = str(PROJECT_ROOT / config["paths"][key])
    config["ivr"].update(menu_file=str(PROJECT_ROOT / "menus" / "main.yaml"),
                         prompts_dir=str(PROJECT_ROOT / "menus" / "prompts" / "zh"),
                         no_input_timeout_s=2, inter_digit_timeout_s=2, max_retries=2, recording_max_s=20,
                         recording_silence_s=2, **(ivr or {}))
    config["asr"]["model_path"] = str(PROJECT_ROOT / config["asr"]["model_path"])
    base = free_port()
    config["sip"].update(host="127.0.0.1", port=free_port(), workers=workers, worker_base_port=base,
                         rtp_port_start=random.randrange(30000, 58000, 400), rtp_ports_per_worker=100,
                         kamailio={"enabled": "yes" if kamailio else "no"}, **(sip or {}))
    config["agents"].update(group_uri=f"sip:agents@127.0.0.1:{agent_port or free_port()}", no_answer_timeout_s=3)
    config["security"] = {"secret_key": "test-secret-key-0123456789", "admin_token": "test-admin-token"}
    return config


@dataclasses.dataclass
class HotlineServer:
    """``hotline --config CFG serve`` in its own session; :meth:`stop` sends SIGTERM and reaps it."""

    folder: Path
    config: dict[str, Any]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def log_file(self) -> Path:
        return self.folder / "serve.log"

    @property
    def settings(self) -> Settings:
        return load_settings(self.config_file, env={})

    @property
    def sip_port(self) -> int:
        return int(self.config["sip"]["port"])

    @property
    def target(self) -> str:
        return f"sip:96536@127.0.0.1:{self.sip_port}"

    @property
    def agent_port(self) -> int:
        return int(self.config["agents"]["group_uri"].rsplit(":", 1)[1])

    @property
    def recordings_dir(self) -> Path:
        return Path(self.config["paths"]["recordings_dir"])

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def health(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.config['web']['port']}/healthz"
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL built here
            return json.loads(response.read())

    def start(self, ready_timeout_s: float = 90.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(self.config, allow_unicode=True), encoding="utf-8")
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen([str(HOTLINE), "--config", str(self.config_file), "serve", "--grace", "15"],
                                         cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:  # polling an external process, deadline-bound
            if self.proc.poll() is not None:
                raise AssertionError(f"hotline serve exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            with contextlib.suppress(OSError, ValueError):
                if self.health()["status"] == "ok":
                    return
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"hotline serve not healthy within {ready_timeout_s} s:\n{self.log()[-4000:]}")

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    import os  # noqa: PLC0415

                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
                raise AssertionError(f"hotline serve did not stop on SIGTERM:\n{self.log()[-3000:]}") from None
        return self.proc.returncode


def serve(folder: Path, **config: Any) -> Iterator[HotlineServer]:
    """A started server for a module-scoped fixture; stopped (exit code 0 required) when the module ends."""
    server = HotlineServer(folder, hotline_config(folder, **config))
    server.start()
    try:
        yield server
    finally:
        code = server.stop()
    log = server.log()
    assert code == 0, f"hotline serve exited with {code}:\n{log[-3000:]}"
    assert "restarting in" not in log, "a child of hotline serve died while the module ran"
    assert "did not stop within" not in log, "a child of hotline serve needed SIGKILL"


# ----------------------------------------------------------------------------------------------- SIP clients
def caller_argv(target: str, steps: Sequence[str], *, calls: int = 1, record_dir: Path | None = None,
                headers: Sequence[str] = (), from_user: str = "13800138000", timeout_s: float = 60.0) -> list[str]:
    argv = [PYTHON, str(CALLER), "--target", target, "--calls", str(calls), "--timeout", str(timeout_s),
            "--from-user", from_user]
    if record_dir is not None:
        argv += ["--record-dir", str(record_dir)]
    for step in steps:
        argv += ["--step", step]
    for header in headers:
        argv += ["--header", header]
    return argv


async def _finish(proc: asyncio.subprocess.Process, timeout_s: float) -> tuple[bytes, bytes]:
    try:
        return await asyncio.wait_for(proc.communicate(), timeout_s)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _results(argv: Sequence[str], code: int | None, out: bytes, err: bytes) -> list[dict[str, Any]]:
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("[")]
    assert code == 0 and lines, (f"{' '.join(argv[:3])} failed ({code}):\n{out.decode(errors='replace')}\n"
                                 f"{err.decode(errors='replace')[-3000:]}")
    return json.loads(lines[-1])


async def call(target: str, *steps: str, timeout_s: float = 60.0, **kwargs: Any) -> list[dict[str, Any]]:
    """Place call(s) with the pjsua2 caller (tests/sip/caller.py) and return its JSON results."""
    argv = caller_argv(target, steps, timeout_s=timeout_s, **kwargs)
    proc = await asyncio.create_subprocess_exec(*argv, cwd=PROJECT_ROOT, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)
    out, err = await _finish(proc, timeout_s + 30)
    return _results(argv, proc.returncode, out, err)


@dataclasses.dataclass
class Agent:
    """tests/sip/caller.py --listen PORT: an agent phone that rings, answers (or not) and runs steps."""

    proc: asyncio.subprocess.Process
    argv: list[str]

    async def result(self, timeout_s: float = 60.0) -> dict[str, Any]:
        out, err = await _finish(self.proc, timeout_s)
        results = _results(self.argv, self.proc.returncode, out, err)
        assert results, "the agent got no call"
        return results[0]


@contextlib.asynccontextmanager
async def agent_phone(port: int, *steps: str, record_dir: Path | None = None, no_answer: bool = False,
                      timeout_s: float = 40.0) -> AsyncIterator[Agent]:
    argv = [PYTHON, str(CALLER), "--listen", str(port), "--timeout", str(timeout_s)]
    if no_answer:
        argv.append("--no-answer")
    if record_dir is not None:
        argv += ["--record-dir", str(record_dir)]
    for step in steps:
        argv += ["--step", step]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=PROJECT_ROOT, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.startswith(b"LISTENING"), f"agent phone did not start: {line!r}"
        yield Agent(proc, argv)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def make_tone(path: Path, seconds: float, freq: int) -> Path:
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine",
                    str(freq), "vol", "0.5"], check=True, capture_output=True)
    return path


def make_speech(path: Path, seconds: float = 2.5) -> Path:
    """Something speech-like (a gliding tone with syllable-rate amplitude changes) for the caller to say."""
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine",
                    "250-900", "tremolo", "4", "60", "vol", "0.6"], check=True, capture_output=True)
    return path


async def wait_for(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll a predicate (sync or async; e.g. the database another process writes) until it returns something
    truthy, at most ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)


class Db:
    """Read-only looks at the server's SQLite database (what another process committed)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, params).fetchall()]

    def call_records(self, caller_masked: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE caller_masked = ?", (caller_masked,)) if caller_masked else ("", ())
        rows = self.rows(f"SELECT * FROM call_records {where} ORDER BY id", *params)  # noqa: S608 - fixed SQL
        for row in rows:
            row["path"] = json.loads(row["path"] or "[]")
        return rows

    def ticket(self, number: str) -> dict[str, Any] | None:
        found = self.rows("SELECT * FROM tickets WHERE number = ?", number)
        return found[0] if found else None

    def ticket_by_id(self, ticket_id: int) -> dict[str, Any]:
        return self.rows("SELECT * FROM tickets WHERE id = ?", ticket_id)[0]

    def hotline_tickets(self, phone: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM tickets WHERE channel = 'hotline' AND caller_phone = ? ORDER BY id", phone)


async def seed_ticket(settings: Settings, *, phone: str, kind: Kind = Kind.COMPLAINT,
                      dispatch_to: str | None = None) -> tuple[TicketView, str]:
    """A ticket created (and dispatched) through the real store on the server's database: (view, extraction code)."""
    store = Store(settings)
    try:
        created = await store.tickets.create(
            NewTicket(channel=Channel.WEB, kind=kind, caller_phone=phone, content="路灯不亮"), Actor("e2e-test"))
        view = created.ticket
        if dispatch_to is not None:
            if dispatch_to == "any":  # the shortest name: the status sentence says it
                dispatch_to = min(await store.people.departments(), key=lambda d: len(d.name)).code
            view = await store.tickets.dispatch(view.number, dispatch_to, Actor("e2e-test"))
        return view, created.extraction_code
    finally:
        await store.close()


def db_of(server: HotlineServer) -> Db:
    url = server.config["database"]["url"]
    return Db(Path(url.split("///", 1)[1]))


__all__ = ["Agent", "Db", "HotlineServer", "agent_phone", "call", "caller_argv", "db_of", "free_port", "free_ports",
           "hotline_config", "make_speech", "make_tone", "seed_ticket", "serve", "wait_for"]
