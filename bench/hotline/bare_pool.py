"""The bare reference for bench/hotline: N processes, each a minimal pjsua2 script that answers calls and plays a
WAV in a loop — no asyncio, no call flow, no store, no logging — behind the same Kamailio front door (the product's
own configuration from :mod:`ivr.frontdoor`, dispatching over these processes).

Each process answers at most ``--calls-per-process`` calls (3, as a product worker with the PyPI wheel's cap of 4)
and refuses the next with 503 so that Kamailio fails over, exactly as the product's workers do. Media settings
match the product's workers (8 kHz bridge, no VAD, no echo canceller, PCMA first) so that the CPU-per-call ratio
measures what the product adds, not a different media set-up. pjsua2 runs its own worker and media threads here
(the library's defaults), as a minimal script would.

    python -m bench.hotline.bare_pool --config CFG --wav FILE --workers N     # pool + Kamailio; READY on stdout
    python -m bench.hotline.bare_pool --child I --config CFG --wav FILE        # one answering process
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

__all__ = ["main"]


def _child(index: int, config: Path, wav: Path, calls_per_process: int) -> int:
    import pjsua2 as pj  # noqa: PLC0415 - only the child processes load pjsua2

    from tickets.config import load_settings  # noqa: PLC0415

    sip = load_settings(config, env={}).sip
    port = sip.worker_base_port + index
    rtp = sip.rtp_port_start + index * sip.rtp_ports_per_worker
    lock = threading.Lock()
    calls: dict[int, Call] = {}
    ended: list[object] = []  # hung-up calls and players stay referenced until exit (never deleted mid-run)

    class Call(pj.Call):
        def __init__(self, account: pj.Account, call_id: int) -> None:
            super().__init__(account, call_id)
            self.player: pj.AudioMediaPlayer | None = None

        def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
            if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
                with lock:
                    calls.pop(self.getId(), None)
                    ended.append(self)

        def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
            info = self.getInfo()
            for i, media in enumerate(info.media):
                if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    if self.player is None:
                        self.player = pj.AudioMediaPlayer()
                        self.player.createPlayer(str(wav), 0)  # loops
                    self.player.startTransmit(self.getAudioMedia(i))

    class Account(pj.Account):
        def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
            call = Call(self, prm.callId)
            op = pj.CallOpParam()
            with lock:
                full = len(calls) >= calls_per_process
                if not full:
                    calls[prm.callId] = call
                else:
                    ended.append(call)
            op.statusCode = 503 if full else 200
            call.answer(op)

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.maxCalls = 4
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tcfg = pj.TransportConfig()
    tcfg.port = port
    tcfg.boundAddress = sip.worker_host
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    for codec in ep.codecEnum2():
        priority = {"PCMA/8000/1": 255, "PCMU/8000/1": 254}.get(codec.codecId, 0)
        ep.codecSetPriority(codec.codecId, priority)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:bare@{sip.public_address}:{port}"
    acfg.mediaConfig.transportConfig.port = rtp
    acfg.mediaConfig.transportConfig.portRange = sip.rtp_ports_per_worker
    acfg.mediaConfig.transportConfig.boundAddress = sip.worker_host
    account = Account()
    account.create(acfg, True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"READY {port} {calls_per_process}", flush=True)
    while not stop.wait(0.5):
        pass
    ep.hangupAllCalls()
    stop.wait(0.3)
    os._exit(0)  # no libDestroy: Call objects are alive by design (a Call alive at libDestroy aborts)


async def _pool(args: argparse.Namespace) -> int:
    from ivr.frontdoor import WorkerAddress, check_kamailio_config, kamailio_argv, write_kamailio_config  # noqa
    from tickets.config import load_settings  # noqa: PLC0415

    settings = load_settings(args.config, env={})
    sip = settings.sip
    children: list[asyncio.subprocess.Process] = []
    kamailio: asyncio.subprocess.Process | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.Semaphore(4)
    drains: list[asyncio.Task[bytes]] = []

    async def start(index: int) -> None:
        async with starting:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.hotline.bare_pool", "--child", str(index), "--config", str(args.config),
                "--wav", str(args.wav), "--calls-per-process", str(args.calls_per_process),
                stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
            children.append(proc)
            assert proc.stdout is not None
            while not (line := await asyncio.wait_for(proc.stdout.readline(), 30)).startswith(b"READY"):
                if not line:
                    raise RuntimeError(f"bare process {index} exited before READY")
            drains.append(asyncio.create_task(proc.stdout.read()))  # pjlib may print more: never let it block

    try:
        await asyncio.gather(*(start(i) for i in range(args.workers)))
        addresses = [WorkerAddress(sip.worker_host, sip.worker_base_port + i, "udp") for i in range(args.workers)]
        files = write_kamailio_config(settings, addresses)
        await check_kamailio_config(settings, files)
        kamailio = await asyncio.create_subprocess_exec(*kamailio_argv(settings, files), stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        print(f"READY {sip.port} {args.workers * args.calls_per_process}", flush=True)
        await stop.wait()
    finally:
        for proc in [*children, *([kamailio] if kamailio else [])]:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*children, *([kamailio] if kamailio else [])]:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="the bench's product configuration (ports)")
    parser.add_argument("--wav", type=Path, required=True, help="8 kHz mono WAV played in a loop to every caller")
    parser.add_argument("--workers", type=int, default=1, help="answering processes (pool mode)")
    parser.add_argument("--calls-per-process", type=int, default=3)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return _child(args.child, args.config, args.wav, args.calls_per_process)
    return asyncio.run(_pool(args))


if __name__ == "__main__":
    sys.exit(main())
