"""``hotline serve``: runs the migrations, the call workers, Kamailio in front of them, and the web app.

Start-up:

1. the ticket database is brought to the newest schema (``tickets.migrate.upgrade``);
2. worker 0 starts and prints ``READY <sip_port> <capacity>``. Without Kamailio (``sip.kamailio.enabled: no``, or
   ``auto`` and no binary) that single worker takes the public SIP address itself (``--public``) and the log says
   how many calls that allows. With Kamailio the number of workers is ``sip.workers``, or when that is 0,
   ``ceil(sip.target_concurrent_calls / capacity)``; the others start, then Kamailio's configuration is written
   and checked, and Kamailio starts and must answer an OPTIONS;
3. the web app (``stb_api.app.create_app(settings, store)``, or a minimal app while that is missing) serves on
   ``web.host:web.port``; ``GET /healthz`` (and ``/healthz/sip``) report the workers and Kamailio.

While running, any child that dies is restarted with exponential backoff (its exit code is logged). SIGHUP is
forwarded to the workers (menu reload). SIGTERM/SIGINT stop everything: workers get SIGTERM, then SIGKILL after a
grace period, then Kamailio likewise; every child is reaped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import math
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ivr.frontdoor import (
    ChildProcess,
    FrontDoorError,
    WorkerAddress,
    check_kamailio_config,
    kamailio_argv,
    kamailio_wanted,
    probe_sip,
    write_kamailio_config,
)
from tickets.config import Settings

if TYPE_CHECKING:  # the store is imported where it is opened, keeping start-up and the tests light
    from tickets.store import Store

__all__ = [
    "ChildExited",
    "ReadyLine",
    "SlotState",
    "Supervisor",
    "SupervisorError",
    "WorkerCommand",
    "default_worker_command",
]

LOG = logging.getLogger(__name__)

WorkerCommand = Callable[[int, bool], Sequence[str]]
"""Builds a worker's command line from its index and whether it takes the public SIP address."""


class SupervisorError(FrontDoorError):
    """A child could not be started or did not become ready."""


@dataclasses.dataclass(frozen=True, slots=True)
class ReadyLine:
    """What a worker prints on stdout once it accepts calls: ``READY <sip_port> <capacity>``."""

    sip_port: int
    capacity: int

    @classmethod
    def parse(cls, line: str) -> ReadyLine:
        parts = line.split()
        if len(parts) != 3 or parts[0] != "READY":
            raise ValueError(f"expected 'READY <sip_port> <capacity>', got {line.strip()[:80]!r}")
        if not parts[1].isdigit() or not 0 < int(parts[1]) < 65536:
            raise ValueError(f"READY: sip_port must be 1-65535, got {parts[1]!r}")
        if not parts[2].isdigit() or int(parts[2]) < 1:
            raise ValueError(f"READY: capacity must be a positive integer, got {parts[2]!r}")
        return cls(int(parts[1]), int(parts[2]))

    def __bytes__(self) -> bytes:
        return f"READY {self.sip_port} {self.capacity}\n".encode()


class SlotState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclasses.dataclass(frozen=True, slots=True)
class ChildExited:
    """A supervised child ended without being asked to."""

    name: str
    pid: int
    returncode: int
    restart_in_s: float

    def describe(self) -> str:
        if self.returncode < 0:
            try:
                how = f"killed by {signal.Signals(-self.returncode).name}"
            except ValueError:
                how = f"killed by signal {-self.returncode}"
        else:
            how = f"exited with code {self.returncode}"
        return f"{self.name} (pid {self.pid}) {how}; restarting in {self.restart_in_s:.1f} s"


@dataclasses.dataclass(frozen=True, slots=True)
class _Timing:
    ready_timeout_s: float = 30.0
    grace_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    stable_after_s: float = 60.0


class _Slot:
    """Keeps one child running: :meth:`_spawn` starts it and waits until it is ready; a death restarts it."""

    def __init__(self, name: str, timing: _Timing) -> None:
        self.name = name
        self.timing = timing
        self.state = SlotState.STOPPED
        self.child: ChildProcess | None = None
        self.restarts = 0
        self.last_exit_code: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def _set_state(self, new: SlotState) -> None:
        if new is not self.state:
            LOG.info("%s: %s -> %s", self.name, self.state.value, new.value)
            self.state = new

    async def _spawn(self) -> ChildProcess:
        raise NotImplementedError

    async def _spawn_guarded(self) -> ChildProcess:
        self._set_state(SlotState.STARTING)
        child = await self._spawn()
        self.child = child
        self._set_state(SlotState.READY)
        return child

    async def start(self) -> None:
        """Start the child and wait until it is ready; then keep it alive in the background."""
        self._stopping = False
        await self._spawn_guarded()
        self._task = asyncio.create_task(self._keep_alive(), name=f"{self.name}-keepalive")

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        backoff_s = self.timing.backoff_initial_s
        started = loop.time()
        while not self._stopping:
            assert self.child is not None
            code = await self.child.wait()
            if self._stopping:
                return
            self.last_exit_code = code
            if loop.time() - started >= self.timing.stable_after_s:
                backoff_s = self.timing.backoff_initial_s
            while not self._stopping:
                event = ChildExited(self.name, self.child.pid or 0, code, backoff_s)
                LOG.warning("%s", event.describe())
                self._set_state(SlotState.BACKOFF)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self.timing.backoff_max_s)
                try:
                    await self._spawn_guarded()
                except SupervisorError as exc:
                    LOG.error("%s: restart failed: %s", self.name, exc)
                    continue
                self.restarts += 1
                started = loop.time()
                break

    def send_signal(self, sig: int) -> None:
        if self.child is not None and self.state is SlotState.READY:
            self.child.send_signal(sig)

    async def stop(self) -> None:
        self._stopping = True
        self._set_state(SlotState.STOPPING)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.child is not None:
            code = await self.child.stop(self.timing.grace_s)
            LOG.info("%s (pid %s) stopped with code %s", self.name, self.child.pid, code)
        self._set_state(SlotState.STOPPED)

    def health(self) -> dict[str, Any]:
        alive = self.child is not None and self.child.returncode is None
        return {"name": self.name, "state": self.state.value, "pid": self.child.pid if alive and self.child else None,
                "restarts": self.restarts, "last_exit_code": self.last_exit_code}


class WorkerSlot(_Slot):
    """One call worker (``python -m ivr.worker --index N``), ready when it prints its READY line."""

    def __init__(self, index: int, command: WorkerCommand, *, public: bool, timing: _Timing) -> None:
        super().__init__(f"worker{index}", timing)
        self.index = index
        self.public = public
        self._command = command
        self.ready: ReadyLine | None = None

    async def _spawn(self) -> ChildProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        child = ChildProcess(self.name, self._command(self.index, self.public), env=env)
        await child.start(capture_lines=True)
        try:
            self.ready = await self._wait_ready(child)
        except BaseException:
            await child.stop(self.timing.grace_s)
            raise
        child.stop_capturing()
        LOG.info("%s (pid %s) ready on SIP port %d, %d calls", self.name, child.pid, self.ready.sip_port,
                 self.ready.capacity)
        return child

    async def _wait_ready(self, child: ChildProcess) -> ReadyLine:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.ready_timeout_s
        while (remaining := deadline - loop.time()) > 0:
            line = await child.next_line(remaining)
            if line is None:
                break
            if line.startswith("FAILED"):
                raise SupervisorError(f"{self.name} could not start: {line[len('FAILED'):].strip()}")
            if line.startswith("READY"):
                try:
                    return ReadyLine.parse(line)
                except ValueError as exc:
                    raise SupervisorError(f"{self.name}: bad READY line: {exc}") from exc
        remaining = deadline - loop.time()
        if remaining > 0:  # its output ended: it is exiting
            try:
                code = await asyncio.wait_for(child.wait(), remaining)
            except TimeoutError:
                pass
            else:
                raise SupervisorError(f"{self.name} exited with code {code} before printing READY")
        raise SupervisorError(f"{self.name} printed no READY line within {self.timing.ready_timeout_s:.0f} s")

    def health(self) -> dict[str, Any]:
        info = super().health()
        info.update(index=self.index, public=self.public, sip_port=self.ready.sip_port if self.ready else None,
                    capacity=self.ready.capacity if self.ready else None)
        return info


class KamailioSlot(_Slot):
    """Kamailio in the foreground, ready when it answers an OPTIONS on the public SIP port."""

    def __init__(self, settings: Settings, argv: Sequence[str], timing: _Timing) -> None:
        super().__init__("kamailio", timing)
        self._settings = settings
        self._argv = list(argv)

    async def _spawn(self) -> ChildProcess:
        child = ChildProcess(self.name, self._argv)
        await child.start()
        try:
            await self._wait_answering(child)
        except BaseException:
            await child.stop(self.timing.grace_s)
            raise
        return child

    async def _wait_answering(self, child: ChildProcess) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.ready_timeout_s
        sip = self._settings.sip
        while loop.time() < deadline:
            if child.returncode is not None:
                raise SupervisorError(f"kamailio exited with code {child.returncode} at start (see its log above)")
            status = await probe_sip(sip.host, sip.port, timeout_s=0.2)
            if status is not None:
                LOG.info("kamailio (pid %s) answers on %s:%d (OPTIONS -> %d)", child.pid, sip.host, sip.port,
                         status.code)
                return
        raise SupervisorError(f"kamailio did not answer OPTIONS on {sip.host}:{sip.port} within "
                              f"{self.timing.ready_timeout_s:.0f} s")


def default_worker_command(settings: Settings) -> WorkerCommand:
    """``python -m ivr.worker --config FILE --index N [--public]``."""
    if settings.source is None:
        raise SupervisorError("the workers need the configuration file: load settings from a file (--config)")
    source = str(settings.source)

    def command(index: int, public: bool) -> list[str]:
        argv = [sys.executable, "-m", "ivr.worker", "--config", source, "--index", str(index)]
        return argv + (["--public"] if public else [])

    return command


AppFactory = Callable[[Settings], Awaitable[web.Application]]

_PARALLEL_STARTS = max(2, os.cpu_count() or 2)  # workers starting at once (pjsua2 start-up is CPU-bound)
_HEALTH_PATHS = frozenset({"/healthz", "/healthz/sip"})
HEALTH_KEY = web.AppKey("hotline_supervisor_health", Callable[[], dict[str, Any]])


class Supervisor:
    """Everything ``hotline serve`` runs. :meth:`run` returns when SIGTERM/SIGINT arrive (or :meth:`request_stop`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        worker_command: WorkerCommand | None = None,
        use_kamailio: bool | None = None,
        serve_web: bool = True,
        run_migrations: bool = True,
        app_factory: AppFactory | None = None,
        grace_s: float = 5.0,
        ready_timeout_s: float = 30.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self._worker_command = worker_command
        self._use_kamailio = use_kamailio
        self._serve_web = serve_web
        self._run_migrations = run_migrations
        self._app_factory = app_factory
        self._timing = _Timing(ready_timeout_s=ready_timeout_s, grace_s=grace_s,
                               backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s)
        self.workers: list[WorkerSlot] = []
        self.kamailio: KamailioSlot | None = None
        self._runner: web.AppRunner | None = None
        self._store: Store | None = None
        self._stop = asyncio.Event()
        self.started = asyncio.Event()
        self.web_addresses: list[Any] = []

    # ---- life cycle -------------------------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        starting = asyncio.create_task(self.start(), name="supervisor-start")
        stopping = asyncio.create_task(self._stop.wait(), name="supervisor-stop")
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():  # SIGTERM while starting: give up the start, stop what runs
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
                return 0
            starting.result()
            await stopping
            return 0
        finally:
            for task in (starting, stopping):
                task.cancel()
            await asyncio.gather(starting, stopping, return_exceptions=True)
            await self.shutdown()
            for sig in handled:
                loop.remove_signal_handler(sig)

    def request_stop(self, sig: int | None = None) -> None:
        if sig is not None:
            LOG.info("received %s: stopping", signal.Signals(sig).name)
        self._stop.set()

    def reload(self) -> None:
        """SIGHUP: the workers reload their menus."""
        LOG.info("SIGHUP: forwarding to %d workers", len(self.workers))
        for slot in self.workers:
            slot.send_signal(signal.SIGHUP)

    async def start(self) -> None:
        if self._run_migrations:
            await self._migrate()
        command = self._worker_command or default_worker_command(self.settings)
        use_kamailio = kamailio_wanted(self.settings) if self._use_kamailio is None else self._use_kamailio
        sip = self.settings.sip
        if not use_kamailio:
            first = WorkerSlot(0, command, public=True, timing=self._timing)
            self.workers.append(first)
            await first.start()
            assert first.ready is not None
            LOG.warning("running without Kamailio: one worker on %s:%d takes at most %d concurrent calls, and "
                        "callers' SIP reaches it unfiltered (no flood limit; a SIP INFO body that pjsua 2.15 "
                        "aborts on ends the worker's calls); install the Debian package kamailio for the front "
                        "door", sip.host, sip.port, first.ready.capacity)
        else:
            await self._start_behind_kamailio(command)
        if self._serve_web:
            await self._start_web()
        self.started.set()

    async def _start_behind_kamailio(self, command: WorkerCommand) -> None:
        sip = self.settings.sip
        first = WorkerSlot(0, command, public=False, timing=self._timing)
        self.workers.append(first)
        await first.start()
        assert first.ready is not None
        count = sip.workers or max(1, math.ceil(sip.target_concurrent_calls / first.ready.capacity))
        LOG.info("%d workers x %d calls = %d concurrent calls (target %s)", count, first.ready.capacity,
                 count * first.ready.capacity, sip.workers or sip.target_concurrent_calls)
        if sip.host in (sip.worker_host, "0.0.0.0", "::") and \
                sip.worker_base_port <= sip.port < sip.worker_base_port + count:
            raise SupervisorError(f"sip.port {sip.port} is inside the worker ports {sip.worker_base_port}-"
                                  f"{sip.worker_base_port + count - 1}: move sip.worker_base_port")
        others = [WorkerSlot(i, command, public=False, timing=self._timing) for i in range(1, count)]
        self.workers.extend(others)
        starting = asyncio.Semaphore(_PARALLEL_STARTS)

        async def start(slot: WorkerSlot) -> None:
            async with starting:
                await slot.start()

        tasks = [asyncio.create_task(start(slot), name=f"{slot.name}-start") for slot in others]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # one failed (or we were cancelled): the others must not start behind our back
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        addresses = []
        transport = "udp" if "udp" in sip.transports else "tcp"
        for slot in self.workers:
            assert slot.ready is not None
            expected = sip.worker_base_port + slot.index
            if slot.ready.sip_port != expected:
                LOG.warning("%s listens on %d, not %d", slot.name, slot.ready.sip_port, expected)
            addresses.append(WorkerAddress(sip.worker_host, slot.ready.sip_port, transport))
        files = write_kamailio_config(self.settings, addresses)
        await check_kamailio_config(self.settings, files)
        self.kamailio = KamailioSlot(self.settings, kamailio_argv(self.settings, files), self._timing)
        await self.kamailio.start()
        LOG.info("front door open on %s:%d (%s), %d workers", sip.host, sip.port, "+".join(sip.transports),
                 len(self.workers))

    async def _migrate(self) -> None:
        """Bring the schema up to date and, on an empty store, load the shipped first-start data."""
        from tickets.migrate import upgrade  # noqa: PLC0415 - keeps the supervisor's imports light for tests
        from tickets.seed import seed_empty  # noqa: PLC0415
        from tickets.store import Store  # noqa: PLC0415

        await asyncio.to_thread(upgrade, self.settings)
        store = Store(self.settings)
        try:
            await seed_empty(self.settings, store)
        finally:
            await store.close()
        LOG.info("database schema is up to date")

    async def shutdown(self) -> None:
        """Stop the web app, then the workers (all at once), then Kamailio. Safe to call twice."""
        try:
            if self._runner is not None:
                runner, self._runner = self._runner, None
                await runner.cleanup()
            if self._store is not None:
                store, self._store = self._store, None
                try:
                    await store.close()
                except Exception:  # logged with its traceback; the children must still be stopped
                    LOG.exception("closing the ticket store failed")
        finally:
            await asyncio.gather(*(slot.stop() for slot in self.workers if slot.state is not SlotState.STOPPED))
            if self.kamailio is not None and self.kamailio.state is not SlotState.STOPPED:
                await self.kamailio.stop()

    # ---- web ----------------------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        workers = [slot.health() for slot in self.workers]
        kamailio = self.kamailio.health() if self.kamailio else None
        ok = bool(workers) and all(w["state"] == "ready" for w in workers) and (
            kamailio is None or kamailio["state"] == "ready")
        capacity = sum(w["capacity"] or 0 for w in workers if w["state"] == "ready")
        return {"status": "ok" if ok else "degraded", "workers": workers, "kamailio": kamailio,
                "capacity_calls": capacity}

    async def _make_app(self) -> web.Application:
        if self._app_factory is not None:
            return await self._app_factory(self.settings)
        from stb_api.app import create_app  # noqa: PLC0415 - tests inject app_factory without the store
        from tickets.store import Store  # noqa: PLC0415 - likewise

        self._store = Store(self.settings)
        return create_app(self.settings, self._store)

    @web.middleware
    async def _health_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Answers ``GET /healthz`` (and ``/healthz/sip``) ahead of the app's own routes and access checks."""
        if request.method in ("GET", "HEAD") and request.path in _HEALTH_PATHS:
            return web.json_response(self.health())
        return await handler(request)

    async def _start_web(self) -> None:
        app = await self._make_app()
        app[HEALTH_KEY] = self.health
        app.middlewares.insert(0, self._health_middleware)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.web.host, self.settings.web.port)
        await site.start()
        self.web_addresses = list(self._runner.addresses)
        LOG.info("web app on %s", ", ".join(str(a) for a in self.web_addresses))
