"""The supervisor behind ``hotline serve``: workers (a stub that prints READY), Kamailio, restarts, signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
import yaml

from ivr.frontdoor import probe_sip
from ivr.serve_cli import worker_command_from_template
from ivr.supervisor import ReadyLine, SlotState, Supervisor, SupervisorError
from tickets.config import Settings
from tests.frontdoor.helpers import KAMAILIO, free_port, frontdoor_settings

STUB = Path(__file__).resolve().parent / "stub_worker.py"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
needs_kamailio = pytest.mark.skipif(not KAMAILIO.exists(), reason="Debian package kamailio is not installed")


def stub_command(settings: Settings, *extra: str) -> Callable[[int, bool], list[str]]:
    def command(index: int, public: bool) -> list[str]:
        port = settings.sip.port if public else settings.sip.worker_base_port + index
        argv = [sys.executable, str(STUB), "--index", str(index), "--port", str(port), *extra]
        return argv + (["--public"] if public else [])
    return command


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll (deadline-bound) state that external processes change."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ready_line_parse() -> None:
    assert ReadyLine.parse("READY 5070 4\n") == ReadyLine(5070, 4)
    assert bytes(ReadyLine(5071, 255)) == b"READY 5071 255\n"
    with pytest.raises(ValueError, match=r"expected 'READY <sip_port> <capacity>', got 'READY 5070'"):
        ReadyLine.parse("READY 5070")
    with pytest.raises(ValueError, match=r"READY: sip_port must be 1-65535, got '70000'"):
        ReadyLine.parse("READY 70000 4")
    with pytest.raises(ValueError, match=r"READY: capacity must be a positive integer, got '0'"):
        ReadyLine.parse("READY 5070 0")


async def test_without_kamailio_one_public_worker_is_restarted_when_killed(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    settings = frontdoor_settings(tmp_path)
    sup = Supervisor(settings, worker_command=stub_command(settings, "--capacity", "4"), use_kamailio=False,
                     run_migrations=False, backoff_initial_s=0.1, grace_s=2.0)
    try:
        await sup.start()
        assert "running without Kamailio: one worker on 127.0.0.1:%d takes at most 4 concurrent calls" % (
            settings.sip.port) in caplog.text
        assert "install the Debian package kamailio" in caplog.text
        (slot,) = sup.workers
        assert slot.public and slot.ready == ReadyLine(settings.sip.port, 4)
        first_pid = slot.child.pid
        os.kill(first_pid, signal.SIGKILL)
        await wait_for(lambda: slot.restarts == 1 and slot.state is SlotState.READY, what="worker restart")
        assert slot.child.pid != first_pid and slot.last_exit_code == -signal.SIGKILL
        assert "worker0 (pid %d) killed by SIGKILL; restarting in 0.1 s" % first_pid in caplog.text
        (address,) = sup.web_addresses
        async with aiohttp.ClientSession() as http, http.get(f"http://{address[0]}:{address[1]}/healthz") as resp:
            assert resp.status == 200
            health = await resp.json()
        assert health["status"] == "ok" and health["kamailio"] is None and health["capacity_calls"] == 4
        assert health["workers"][0]["restarts"] == 1 and health["workers"][0]["pid"] == slot.child.pid
        second_pid = slot.child.pid
    finally:
        await sup.shutdown()
    assert not alive(first_pid) and not alive(second_pid)
    assert slot.state is SlotState.STOPPED


async def test_worker_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    sup = Supervisor(settings, worker_command=stub_command(settings, "--ignore-term"), use_kamailio=False,
                     run_migrations=False, serve_web=False, grace_s=0.5)
    try:
        await sup.start()
        child = sup.workers[0].child
    finally:
        await sup.shutdown()
    assert child.returncode == -signal.SIGKILL


async def test_worker_that_dies_before_ready_fails_the_start(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    sup = Supervisor(settings, worker_command=lambda i, p: [sys.executable, "-c", "print('boom'); exit(3)"],
                     use_kamailio=False, run_migrations=False, serve_web=False)
    try:
        with pytest.raises(SupervisorError, match="worker0 exited with code 3 before printing READY"):
            await sup.start()
    finally:
        await sup.shutdown()


async def test_bad_ready_line_fails_the_start(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    script = "import time; print('READY 5070 many', flush=True); time.sleep(30)"
    sup = Supervisor(settings, worker_command=lambda i, p: [sys.executable, "-c", script],
                     use_kamailio=False, run_migrations=False, serve_web=False, grace_s=1.0)
    try:
        with pytest.raises(SupervisorError, match="worker0: bad READY line: READY: capacity must be a positive"):
            await sup.start()
    finally:
        await sup.shutdown()


@needs_kamailio
async def test_with_kamailio_workers_follow_capacity_and_kamailio_is_restarted(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, workers=0, target_concurrent_calls=7, worker_base_port=free_port())
    sup = Supervisor(settings, worker_command=stub_command(settings, "--capacity", "4"), use_kamailio=True,
                     run_migrations=False, serve_web=False, backoff_initial_s=0.1, grace_s=2.0)
    pids: list[int] = []
    try:
        await sup.start()
        assert len(sup.workers) == 2  # ceil(7 / 4)
        dispatcher = (settings.paths.run_dir / "dispatcher.list").read_text()
        base = settings.sip.worker_base_port
        assert f"sip:127.0.0.1:{base} " in dispatcher and f"sip:127.0.0.1:{base + 1} " in dispatcher
        status = await probe_sip(settings.sip.host, settings.sip.port)
        assert status is not None and status.code == 200
        kamailio = sup.kamailio
        assert kamailio is not None and kamailio.state is SlotState.READY
        first_pid = kamailio.child.pid
        pids += [first_pid] + [w.child.pid for w in sup.workers]
        os.kill(first_pid, signal.SIGKILL)
        await wait_for(lambda: kamailio.restarts == 1 and kamailio.state is SlotState.READY,
                       what="kamailio restart")
        pids.append(kamailio.child.pid)
        status = await probe_sip(settings.sip.host, settings.sip.port)
        assert status is not None and status.code == 200
        health = sup.health()
        assert health["status"] == "ok" and health["capacity_calls"] == 8
        assert health["kamailio"]["restarts"] == 1
    finally:
        await sup.shutdown()
    assert not [pid for pid in pids if alive(pid)]


def test_worker_command_template(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, worker_base_port=6000)
    command = worker_command_from_template("{python} w.py --index {index} --port {port} {public}", settings)
    assert command(2, False) == [sys.executable, "w.py", "--index", "2", "--port", "6002"]
    assert command(0, True) == [sys.executable, "w.py", "--index", "0", "--port", str(settings.sip.port),
                                "--public"]
    from ivr.frontdoor import FrontDoorError
    with pytest.raises(FrontDoorError, match="--worker-command: unknown placeholder 'nope'"):
        worker_command_from_template("w {nope}", settings)


@needs_kamailio
async def test_hotline_serve_forwards_sighup_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    web_port = free_port()
    config = {
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"},
        "paths": {"data_dir": str(tmp_path), "run_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "port": web_port},
        "sip": {"host": "127.0.0.1", "port": free_port(), "workers": 2, "worker_base_port": free_port(),
                "kamailio": {"enabled": "yes"}},
        "security": {"secret_key": "test-secret-key-0123456789", "admin_token": "test-admin-token"},
    }
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    hup_file = tmp_path / "hup.txt"
    template = f"{{python}} {STUB} --index {{index}} --port {{port}} --hup-file {hup_file} {{public}}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "--config", str(config_file), "serve", "--grace", "2",
        "--worker-command", template, cwd=PROJECT_ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    stderr = b""
    pids: list[int] = []
    try:
        health = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        async with aiohttp.ClientSession() as http:
            while health is None:
                assert proc.returncode is None, "hotline serve exited early"
                assert loop.time() < deadline, "hotline serve did not come up"
                try:
                    async with http.get(f"http://127.0.0.1:{web_port}/healthz/sip") as resp:
                        health = await resp.json()
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with http.get(f"http://127.0.0.1:{web_port}/healthz") as resp:
                assert resp.status == 200
        assert health["status"] == "ok"
        pids = [w["pid"] for w in health["workers"]] + [health["kamailio"]["pid"]]
        assert len(pids) == 3 and all(pids)
        proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: hup_file.exists() and sorted(hup_file.read_text().split("\n")[:2]) ==
                       ["HUP 0", "HUP 1"], what="SIGHUP at both workers")
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, stderr.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert not [pid for pid in pids if alive(pid)], stderr.decode()
    assert b"database schema is up to date" in stderr


async def test_one_worker_failing_to_start_stops_the_others(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, workers=4, worker_base_port=free_port())
    sup = Supervisor(settings, worker_command=stub_command(settings, "--fail-index", "2"), use_kamailio=True,
                     run_migrations=False, serve_web=False, grace_s=1.0)
    try:
        with pytest.raises(SupervisorError, match="worker2 could not start: stub told to fail"):
            await sup.start()
    finally:
        await sup.shutdown()
    assert sup.kamailio is None  # never got that far
    assert all(slot.child is None or slot.child.returncode is not None for slot in sup.workers)


async def test_stop_request_during_start_stops_the_starting_worker(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    started = tmp_path / "started"
    sup = Supervisor(settings, worker_command=stub_command(settings, "--never-ready", str(started)),
                     use_kamailio=False, run_migrations=False, serve_web=False, grace_s=1.0)
    running = asyncio.create_task(sup.run())
    await wait_for(started.exists, what="the stub worker to start")
    sup.request_stop()
    assert await asyncio.wait_for(running, 10) == 0
    assert sup.workers[0].state is SlotState.STOPPED


async def test_worker_ready_timeout_comes_from_the_settings(tmp_path: Path) -> None:
    config = {
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"},
        "paths": {"data_dir": str(tmp_path), "run_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "port": free_port()},
        "sip": {"host": "127.0.0.1", "port": free_port(), "worker_ready_timeout_s": 1,
                "kamailio": {"enabled": "no"}},
        "security": {"secret_key": "test-secret-key-0123456789", "admin_token": "test-admin-token"},
    }
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    silent = "{python} -c 'import time; time.sleep(30)'"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "--config", str(config_file), "serve", "--grace", "1",
        "--worker-command", silent, cwd=PROJECT_ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 1
    assert b"printed no READY line within 1 s" in stderr
