"""The pjsua2 call worker: one pjsua2 endpoint per process, driven from an asyncio loop.

Command line::

    python -m ivr.worker --config PATH --index N [--public] [--demo] [-v]

* SIP on ``sip.worker_host:(sip.worker_base_port + N)`` over ``sip.transports`` (UDP, TCP; TLS on
  ``sip.tls.port + N`` when ``sip.tls.enabled``), or with ``--public`` on ``sip.host:sip.port`` (``sip.tls.port``)
  — the mode used when Kamailio is absent. RTP ports ``rtp_port_start + N*rtp_ports_per_worker`` onwards,
  ``rtp_ports_per_worker`` of them. SDP and Contact carry ``sip.public_address``.
* ``--demo`` answers with a demo flow (prompt, digits read back, a recording) instead of the production call flow
  (:mod:`ivr.wiring`: store, prompts and :mod:`menus`).

Readiness protocol (for ``ivr.supervisor``):

* stdout gets exactly one line ``READY <sip_port> <capacity>`` (flushed) once the transports listen and the
  account is up; ``capacity`` is how many calls this worker answers at once. Nothing else is written to stdout
  (logs go to stderr).
* The same facts go to ``<paths.run_dir>/worker-<N>.json`` (``pid``, ``index``, ``sip_host``, ``sip_port``,
  ``transports``, ``capacity``, ``library_cap``), removed on a clean exit.
* On a start-up failure the process prints ``FAILED <reason>`` on stdout and exits with status 1 (2 for a
  configuration error).
* SIGTERM/SIGINT: refuse new calls (503), hang up the calls, release media, ``libDestroy``, exit 0.
  SIGHUP: calls the optional ``reload`` callback given to :class:`Worker`.

Threads: pjsua2 runs its own threads (``uaConfig.threadCnt = 1`` for SIP and timers, a media ioqueue thread for
RTP, pjmedia's clock thread for the conference bridge), so SIP, RTP and audio never wait for Python and the
event loop sleeps until something happens. The loop thread created the library, so it is registered and makes
every pjsua2 call of the call flow (answer, play, record, transfer, hang up). pjsua2 callbacks arrive on the
SIP thread: they read what they need and post to the loop with ``loop.call_soon_threadsafe``; the registry of
legs (``_legs``) is shared with that thread under a lock. The wheel releases the GIL inside every pjsua2 call,
so a callback waiting for the GIL and the loop waiting for a pjsua2 lock cannot block each other. No Python
runs per audio frame (:mod:`ivr.media`).

Measured on the 2-core test machine: see bench/hotline/README.md (CPU per call against a bare pjsua2 pool).

Capacity: see :mod:`ivr.capacity` (the wheel's cap of 4 is read at run time; one slot is kept to answer 503 with
``Retry-After``; ``sip.max_calls_per_worker`` may lower it). Accepts are spaced by ``sip.accept_calls_per_s``
(the INVITE rings meanwhile). pjsua itself answers OPTIONS with 200 (the dispatcher's health check), rejects an
offer without a common codec with 488, and drops or answers 400 to malformed requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import faulthandler
import itertools
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TextIO

import pjsua2 as pj

from ivr.capacity import answer_capacity, library_call_cap
from ivr.channel import CallChannel, CallHangup
from ivr.media import PlayerGraveyard, PortPool, PromptIndex
from ivr.pjcall import AgentLeg, CallState, PjCall, Recogniser, SipCall, guarded
from ivr.sipmsg import caller_id, mask_number
from tickets.config import ConfigError, Settings, load_settings

__all__ = ["CallHandler", "Worker", "WorkerError", "main", "protocol_stdout"]

log = logging.getLogger(__name__)

CallHandler = Callable[[CallChannel], Awaitable[None]]
#: How often shutdown checks whether the calls it hung up are gone.
SHUTDOWN_POLL_S = 0.02
_CODEC_IDS = {"PCMA": "PCMA/8000", "PCMU": "PCMU/8000", "G722": "G722/16000"}


class WorkerError(Exception):
    """The worker cannot start or run."""


class _LogWriter(pj.LogWriter):
    """pjsua log lines into Python logging (called from any pjsua thread; logging is thread-safe)."""

    _LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}

    @guarded
    def write(self, entry: pj.LogEntry) -> None:
        logging.getLogger("pjsua").log(self._LEVELS.get(entry.level, logging.DEBUG), "%s", entry.msg.rstrip())


class _Account(pj.Account):
    def __init__(self, on_incoming: Callable[[int, str, str], None]) -> None:
        super().__init__()
        self._on_incoming = on_incoming

    @guarded
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802 - pjsua2 callback name
        self._on_incoming(int(prm.callId), str(prm.rdata.wholeMsg), str(prm.rdata.srcAddress))


@dataclasses.dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int
    tls_port: int | None


class Worker:
    """One pjsua2 endpoint answering calls with ``handler`` (see the module docstring)."""

    def __init__(self, settings: Settings, index: int, handler: CallHandler, *, public: bool = False,
                 reload: Callable[[], None] | None = None, verbose: bool = False,
                 ready_out: TextIO | None = None, recogniser: Recogniser | None = None) -> None:
        self.settings = settings
        self.index = index
        self.handler = handler
        self.reload = reload
        self.verbose = verbose
        self._ready_out = ready_out
        self.recogniser = recogniser  # speech for collect(grammar=...); None until ASR is wired
        sip = settings.sip
        if public:
            self.listen = Listen(sip.host, sip.port, sip.tls.port if sip.tls.enabled else None)
        else:
            self.listen = Listen(sip.worker_host, sip.worker_base_port + index,
                                 sip.tls.port + index if sip.tls.enabled else None)
        self.rtp_port = sip.rtp_port_start + index * sip.rtp_ports_per_worker
        # Behind Kamailio, INVITEs come from the front door on this host, which vets P-Asserted-Identity.
        self._front_door_hosts: tuple[str, ...] = () if public else tuple(
            dict.fromkeys(h for h in ("127.0.0.1", sip.worker_host, sip.host) if h not in ("0.0.0.0", "::")))
        self.capacity = 0
        self.library_cap = 0
        self.calls: dict[str, PjCall] = {}
        self._legs: dict[int, SipCall] = {}  # every live pjsua2 leg; shared with the SIP thread under _legs_lock
        self._legs_lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._draining = False
        self._next_accept_at = 0.0
        self._seq = itertools.count(1)
        self._prompts = PromptIndex()
        self._ep: pj.Endpoint | None = None
        self._account: _Account | None = None
        self._ports: PortPool | None = None
        self._graveyard: PlayerGraveyard | None = None
        self._log_writer: _LogWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.answered_total = 0
        self.refused_total = 0

    # --- life cycle ---------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def _start_library(self) -> None:
        sip = self.settings.sip
        ep = pj.Endpoint()
        ep.libCreate()
        self._ep = ep
        cfg = pj.EpConfig()
        cfg.uaConfig.maxCalls = 64  # clamped by the build (read back in library_call_cap)
        cfg.uaConfig.threadCnt = 1
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.userAgent = "hotline96536-ivr"
        cfg.medConfig.hasIoqueue = True
        cfg.medConfig.threadCnt = 1
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.channelCount = 1
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        self._log_writer = _LogWriter()
        cfg.logConfig.writer = self._log_writer
        cfg.logConfig.level = 5 if self.verbose else 2
        cfg.logConfig.consoleLevel = 5 if self.verbose else 2
        cfg.logConfig.msgLogging = 1 if self.verbose else 0
        cfg.logConfig.decor = 0
        ep.libInit(cfg)
        self.library_cap = library_call_cap()
        self.capacity = answer_capacity(self.library_cap, sip.max_calls_per_worker)
        ep.audDevManager().setNullDev()
        bind = self.listen.host if self.listen.host not in ("0.0.0.0", "") else ""
        kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}
        for name in sip.transports:
            tcfg = pj.TransportConfig()
            tcfg.port = self.listen.port
            tcfg.boundAddress = bind
            tcfg.publicAddress = sip.public_address
            ep.transportCreate(kinds[name], tcfg)
        if self.listen.tls_port is not None:
            tcfg = pj.TransportConfig()
            tcfg.port = self.listen.tls_port
            tcfg.boundAddress = bind
            tcfg.publicAddress = sip.public_address
            tcfg.tlsConfig.certFile = str(sip.tls.cert_file or "")
            tcfg.tlsConfig.privKeyFile = str(sip.tls.key_file or "")
            ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tcfg)
        ep.libStart()
        self._set_codecs(ep)
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:ivr@{sip.public_address}:{self.listen.port}"
        acfg.mediaConfig.transportConfig.port = self.rtp_port
        acfg.mediaConfig.transportConfig.portRange = sip.rtp_ports_per_worker
        acfg.mediaConfig.transportConfig.publicAddress = sip.public_address
        if bind:
            acfg.mediaConfig.transportConfig.boundAddress = bind
        account = _Account(self._on_incoming)
        account.create(acfg, True)
        self._account = account
        assert self._loop is not None
        self._graveyard = PlayerGraveyard(self._loop)
        if self.recogniser is not None:  # idle ports cost a Python callback every 20 ms: only for speech
            self._ports = PortPool(self._loop, self.library_cap)

    def _set_codecs(self, ep: pj.Endpoint) -> None:
        wanted = [_CODEC_IDS[name] for name in self.settings.sip.codecs]
        for codec in ep.codecEnum2():
            cid = str(codec.codecId)
            base = cid.rsplit("/", 1)[0] if cid.count("/") == 2 else cid
            priority = 255 - wanted.index(base) if base in wanted else 0
            ep.codecSetPriority(cid, priority)
        log.info("worker %d: codecs %s", self.index, ", ".join(self.settings.sip.codecs))

    def _write_ready(self) -> None:
        sip = self.settings.sip
        run_dir = self.settings.paths.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        facts = {"pid": os.getpid(), "index": self.index, "sip_host": self.listen.host, "sip_port": self.listen.port,
                 "transports": list(sip.transports) + (["tls"] if self.listen.tls_port else []),
                 "capacity": self.capacity, "library_cap": self.library_cap}
        path = self.ready_file
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(facts), encoding="utf-8")
        tmp.replace(path)
        out = self._ready_out or sys.stdout
        out.write(f"READY {self.listen.port} {self.capacity}\n")
        out.flush()

    @property
    def ready_file(self) -> Path:
        return self.settings.paths.run_dir / f"worker-{self.index}.json"

    async def run(self) -> None:
        """Start, serve until :meth:`stop` (or SIGTERM), then shut down cleanly."""
        self._loop = asyncio.get_running_loop()
        try:
            self._start_library()
        except pj.Error as exc:
            self._destroy()
            raise WorkerError(f"cannot start pjsua2 on {self.listen.host}:{self.listen.port}: {exc.info()}") from exc
        log.info("worker %d: SIP %s:%d, RTP %d+%d, library cap %d, answering %d", self.index, self.listen.host,
                 self.listen.port, self.rtp_port, self.settings.sip.rtp_ports_per_worker, self.library_cap,
                 self.capacity)
        self._write_ready()
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()
            with contextlib.suppress(FileNotFoundError):
                self.ready_file.unlink()

    async def _shutdown(self) -> None:
        self._draining = True
        log.info("worker %d: stopping (%d calls)", self.index, len(self.calls))
        for call in list(self.calls.values()):
            call.hangup_now()
        deadline = time.monotonic() + 5
        while (self._legs or self._tasks) and time.monotonic() < deadline:
            await asyncio.sleep(SHUTDOWN_POLL_S)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._legs and self._ep is not None:
            self._ep.hangupAllCalls()
            deadline = time.monotonic() + 3
            while self._legs and time.monotonic() < deadline:
                await asyncio.sleep(SHUTDOWN_POLL_S)
        if self._graveyard:  # let pjmedia's event thread run the end-of-file callbacks of recent prompts
            await asyncio.sleep(SHUTDOWN_POLL_S * 10)
        self._destroy()

    def _destroy(self) -> None:
        for call in self.calls.values():
            call.release_media()
        with self._legs_lock:
            self._legs.clear()
        self.calls.clear()
        if self._graveyard is not None:
            self._graveyard.close()
            self._graveyard = None
        if self._ports is not None:
            self._ports.close()
            self._ports = None
        if self._account is not None:
            with contextlib.suppress(pj.Error):
                self._account.shutdown()
            self._account = None
        if self._ep is not None:
            # Every call is hung up by now; without this flag pjsua waits about a second for network clean-up.
            self._ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
            self._ep = None
        log.info("worker %d: stopped (answered %d, refused %d)", self.index, self.answered_total, self.refused_total)

    # --- calls --------------------------------------------------------------------------------------
    def _forget(self, sip: SipCall) -> None:
        """Called inside the DISCONNECTED callback (SIP thread): drop the registry's reference (see ivr.pjcall)."""
        with self._legs_lock:
            self._legs.pop(id(sip), None)

    def _keep(self, sip: SipCall) -> None:
        with self._legs_lock:
            self._legs[id(sip)] = sip

    def _new_leg(self, call_id: int = pj.PJSUA_INVALID_ID) -> SipCall:
        assert self._account is not None and self._loop is not None
        return SipCall(self._account, self._loop, self._forget, call_id)

    def _refuse(self, sip: SipCall, code: int, reason: str, retry_after_s: int | None) -> None:
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        prm.reason = reason
        if retry_after_s is not None:
            header = pj.SipHeader()
            header.hName = "Retry-After"
            header.hValue = str(retry_after_s)
            prm.txOption.headers.append(header)
        try:
            sip.answer(prm)
        except pj.Error as exc:
            log.warning("worker %d: cannot refuse a call: %s", self.index, exc.info())
        self.refused_total += 1

    def _on_incoming(self, pj_call_id: int, message: str, source: str) -> None:
        """Account.onIncomingCall (SIP thread): the leg must get its Call object now (pjsua2 hangs up a call
        left without one); it is kept in the registry and admitted or refused on the loop."""
        sip = self._new_leg(pj_call_id)
        self._keep(sip)
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._admit, sip, message, source)
        except RuntimeError:  # the loop is closing: the worker is shutting down
            self._refuse(sip, 503, "Service Unavailable", self.settings.sip.retry_after_s)

    def _admit(self, sip: SipCall, message: str, source: str) -> None:
        """Loop thread: refuse (503 + Retry-After) when full or draining, else start serving."""
        if sip.disconnected:  # cancelled before it got here
            return
        ports = self._ports
        active = len(self.calls)
        if self._draining or active >= self.capacity or (ports is not None and ports.free == 0):
            log.info("worker %d: full (%d/%d), 503 to %s", self.index, active, self.capacity, source)
            self._refuse(sip, 503, "Service Unavailable", self.settings.sip.retry_after_s)
            return
        call_id = f"w{self.index}-{next(self._seq)}-{uuid.uuid4().hex[:6]}"
        caller = caller_id(message, source, self.settings.sip.trunks, front_door_hosts=self._front_door_hosts)
        assert self._graveyard is not None
        call = PjCall(call_id=call_id, sip=sip, caller=caller, port=ports.acquire() if ports else None,
                      prompts=self._prompts, graveyard=self._graveyard,
                      place_call=self._place_call, transfer_mode=self.settings.agents.transfer_mode,
                      recogniser=self.recogniser)
        self.calls[call_id] = call
        log.info("call %s: incoming from %s via %s", call_id, mask_number(caller.number), source)
        task = asyncio.get_running_loop().create_task(self._serve(call), name=f"call-{call.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _accept_delay_s(self) -> float:
        """Token spacing of ``sip.accept_calls_per_s``: how long this answer must wait."""
        rate = self.settings.sip.accept_calls_per_s
        if rate <= 0:
            return 0.0
        now = time.monotonic()
        at = max(now, self._next_accept_at)
        self._next_accept_at = at + 1.0 / rate
        return at - now

    async def _serve(self, call: PjCall) -> None:
        try:
            delay = self._accept_delay_s()
            if delay > 0:  # paced: ring meanwhile. Otherwise 200 at once (a 180 relayed late by a loaded front
                sip = call.sip  # door could reach the caller after the 200, which strict UAs such as sipp refuse)
                if sip is not None:
                    ringing = pj.CallOpParam(True)
                    ringing.statusCode = 180
                    with contextlib.suppress(pj.Error):
                        sip.answer(ringing)
                await asyncio.sleep(delay)
            sip = call.sip
            if sip is None or call.hung_up.is_set():
                return
            prm = pj.CallOpParam(True)
            prm.statusCode = 200
            try:
                sip.answer(prm)
            except pj.Error as exc:
                log.warning("call %s: cannot answer: %s", call.call_id, exc.info())
                return
            self.answered_total += 1
            media = asyncio.ensure_future(call.media_ready.wait())
            gone = asyncio.ensure_future(call.hung_up.wait())
            await asyncio.wait([media, gone], timeout=10, return_when=asyncio.FIRST_COMPLETED)
            media.cancel()
            gone.cancel()
            if not call.media_ready.is_set():
                log.warning("call %s: no media, hanging up", call.call_id)
                return
            try:
                await self.handler(call)
            except CallHangup:
                log.info("call %s: caller hung up", call.call_id)
            except Exception:
                log.exception("call %s: handler failed", call.call_id)
            if not call.hung_up.is_set() and call.state is CallState.BRIDGED:
                await call.bridge_ended.wait()
        finally:
            try:
                await asyncio.shield(call.hangup())
            except asyncio.CancelledError:
                call.hangup_now()
            except Exception:
                log.exception("call %s: hangup failed", call.call_id)
            call.release_media()
            self.calls.pop(call.call_id, None)
            if self._ports is not None and call.port is not None:
                self._ports.release(call.port)
            log.info("call %s: finished", call.call_id)

    def _place_call(self, uri: str, listener: AgentLeg) -> SipCall | None:
        """An outgoing leg for a bridged transfer (uses the reserved pjsua slot)."""
        if self._draining:
            return None
        sip = self._new_leg()
        sip.listener = listener
        listener.sip = sip
        self._keep(sip)
        try:
            sip.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("worker %d: cannot call %s: %s", self.index, uri, exc.info())
            listener.sip = None
            self._forget(sip)
            return None
        return sip


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ivr.worker", description="96536 hotline pjsua2 call worker")
    parser.add_argument("--config", help="configuration file (default: $HOTLINE_CONFIG or ./config.yaml)")
    parser.add_argument("--index", type=int, default=0, help="worker number (SIP and RTP ports follow from it)")
    parser.add_argument("--public", action="store_true", help="listen on sip.host:sip.port (no Kamailio)")
    parser.add_argument("--demo", action="store_true", help="answer with the demo flow")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level, with SIP messages")
    return parser.parse_args(argv)


async def _amain(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    loop.add_signal_handler(signal.SIGINT, worker.stop)

    def on_hup() -> None:
        log.info("worker %d: SIGHUP", worker.index)
        if worker.reload is not None:
            worker.reload()

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    await worker.run()


def protocol_stdout() -> TextIO:
    """Keep the real stdout for the readiness protocol and send fd 1 to stderr: pjlib prints its start-up
    lines to stdout before a log writer can be installed."""
    sys.stdout.flush()
    ready_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    return ready_out


async def _amain_production(settings: Settings, args: argparse.Namespace, ready_out: TextIO) -> None:
    """Open the store, prompts and call flow (:mod:`ivr.wiring`), then serve calls with them."""
    from ivr.wiring import open_hotline  # noqa: PLC0415 - the demo and the tests run without the store

    hotline = await open_hotline(settings, worker=f"worker-{args.index}")
    try:
        worker = Worker(settings, args.index, hotline.handle, public=args.public, reload=hotline.reload,
                        verbose=args.verbose, ready_out=ready_out)
        await _amain(worker)
    finally:
        await hotline.close()


def _exit_now(code: int) -> NoReturn:
    """Leave without the interpreter's teardown once everything is closed (calls, pjsua2, the store; logs
    flushed here). Tearing down SQLAlchemy, pjsua2's wrappers and the rest costs ~0.2 s of CPU per worker, and a
    pool of 70 workers stopping together on two cores then outlasts the supervisor's grace period."""
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None, handler: CallHandler | None = None) -> int:
    args = _parse_args(argv)
    ready_out = protocol_stdout()
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"FAILED configuration error: {exc}", file=ready_out, flush=True)
        return 2
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else settings.logging.level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faulthandler.enable(sys.stderr, all_threads=True)  # a crash inside pjsua2 still says where Python was
    if handler is None and not args.demo:
        # Imported here: the demo and the worker tests run without the store and the menus.
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - see above

        from menus.schema import MenuError  # noqa: PLC0415 - see above
        from tickets.district import DistrictError  # noqa: PLC0415 - see above
        from tickets.errors import StoreError  # noqa: PLC0415 - see above

        try:
            asyncio.run(_amain_production(settings, args, ready_out))
        except (WorkerError, MenuError, DistrictError, StoreError, SQLAlchemyError, OSError) as exc:
            print(f"FAILED {exc}", file=ready_out, flush=True)
            log.error("worker %d failed: %s", args.index, exc, exc_info=True)
            return 1
        _exit_now(0)
    if handler is None:
        from ivr.demo import DemoError, demo_handler  # noqa: PLC0415 - only the demo needs it

        try:
            handler = demo_handler(settings)
        except DemoError as exc:
            print(f"FAILED {exc}", file=ready_out, flush=True)
            return 1
    worker = Worker(settings, args.index, handler, public=args.public, verbose=args.verbose, ready_out=ready_out)
    try:
        asyncio.run(_amain(worker))
    except WorkerError as exc:
        print(f"FAILED {exc}", file=ready_out, flush=True)
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
