"""A real SIP caller (or, with ``--listen``, a called agent) for the worker tests: a pjsua2 endpoint in its own
process.

    python tests/sip/caller.py --target sip:96536@127.0.0.1:5070 [--calls N] [--record-dir DIR]
        [--step STEP]... [--header "Name: value"]... [--from-user 13800138000] [--transport udp|tcp|tls]
        [--codecs PCMA,PCMU,G722] [--timeout S]

With ``--listen PORT`` it prints ``LISTENING PORT``, waits for one call, rings, answers after ``--answer-after``
seconds (never with ``--no-answer``) and then runs the steps on that call.

Each of the N concurrent calls runs the steps in order once it is answered:

* ``wait_audio[:S]`` until it hears audio (rx level above a threshold), at most S seconds (default 15);
* ``wait_silence:D[:S]`` until D seconds of silence follow (at most S seconds);
* ``sleep:S``;
* ``dtmf:KEYS`` (RFC 4733) or ``info:KEYS`` (SIP INFO, application/dtmf-relay; one INFO transaction at a time, the
  next key only after the previous INFO's final response, as SIP phones send them: a burst of INFOs through a proxy
  with several UDP readers may arrive out of CSeq order, and a UAS refuses the late ones);
* ``play:FILE.wav`` (sends the file into the call and waits until it has been sent);
* ``hangup`` (``--cancel-after S`` cancels a call still ringing after S seconds; otherwise the call runs until the far end hangs up or ``--timeout``).

What the call hears is recorded to ``DIR/call-<i>.wav`` (8 kHz mono 16-bit). The last line on stdout is a JSON
list, one object per call: ``status`` (final INVITE response code), ``reason``, ``retry_after`` (header of the
final response, if any), ``answered``, ``ended_by`` (``local``/``remote``/``timeout``), ``recording``,
``steps_done``, ``step_times`` (seconds after the answer at which each step finished), ``errors``,
``heard_audio``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
import wave
from pathlib import Path
from typing import TextIO

import pjsua2 as pj

AUDIO_LEVEL = 3  # pjsua signal level 0-255; the worker's prompts give tens


@dataclasses.dataclass
class Result:
    index: int
    status: int = 0
    reason: str = ""
    retry_after: str | None = None
    answered: bool = False
    ended_by: str = ""
    recording: str | None = None
    steps_done: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    heard_audio: bool = False
    transfer_answered: bool = False  # a REFER from the far end led to an answered call
    answered_at: float | None = None  # wall clock (time.time()) of the answer
    step_times: list[float] = dataclasses.field(default_factory=list)  # seconds after answer, per step done


class CallerCall(pj.Call):
    def __init__(self, acc: pj.Account, result: Result, call_id: int = pj.PJSUA_INVALID_ID,
                 parent: CallerCall | None = None) -> None:
        super().__init__(acc, call_id)
        self.acc = acc
        self.parent = parent
        self.transfer_legs: list[CallerCall] = []
        self.result = result
        self.confirmed_at: float | None = None
        self.media_on = False
        self.disconnected = False
        self.recorder: pj.AudioMediaRecorder | None = None
        self.player: pj.AudioMediaPlayer | None = None
        self.info_keys = ""  # SIP INFO keys still to send (one transaction at a time)
        self.info_pending = False  # an INFO is out without a final response yet

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802 - pjsua2 callback name
        self._capture(prm.e)
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.parent is not None:
            self.parent.result.transfer_answered = True
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed_at = time.monotonic()
            self.result.answered = True
            self.result.answered_at = time.time()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            if not self.result.answered and not self.result.status:
                self.result.status = int(info.lastStatusCode)
                self.result.reason = str(info.lastReason)
            if not self.result.ended_by:
                self.result.ended_by = "remote"

    def _capture(self, event: pj.SipEvent) -> None:
        """Keep the final response to our INVITE (status and Retry-After)."""
        if event.type != pj.PJSIP_EVENT_TSX_STATE or event.body.tsxState.type != pj.PJSIP_EVENT_RX_MSG:
            return
        msg = str(event.body.tsxState.src.rdata.wholeMsg)
        match = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", msg.split("\r\n", 1)[0])
        if not match or int(match.group(1)) < 200 or not re.search(r"^CSeq:.*INVITE", msg, re.I | re.M):
            return
        self.result.status = int(match.group(1))
        self.result.reason = match.group(2).strip()
        retry = re.search(r"^Retry-After:\s*(.+?)\s*$", msg, re.IGNORECASE | re.MULTILINE)
        self.result.retry_after = retry.group(1) if retry else None

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:  # noqa: N802 - pjsua2 callback name
        self._capture(prm.e)
        if prm.e.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        tsx = prm.e.body.tsxState.tsx
        if (self.info_pending and tsx.role == pj.PJSIP_ROLE_UAC and tsx.method == "INFO"
                and tsx.state >= pj.PJSIP_TSX_STATE_COMPLETED):  # a final response, or a time-out (408)
            self.info_pending = False
            if tsx.statusCode >= 300:
                self.result.errors.append(f"INFO refused: {tsx.statusCode} {tsx.statusText}")

    def send_next_info_key(self) -> None:
        prm = pj.CallSendDtmfParam()
        prm.digits, self.info_keys = self.info_keys[:1], self.info_keys[1:]
        prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
        prm.duration = 160
        self.info_pending = True
        self.sendDtmf(prm)

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:  # noqa: N802 - pjsua2 callback
        leg = CallerCall(self.acc, Result(index=-1), parent=self)
        self.transfer_legs.append(leg)  # kept referenced until the runner ends
        prm.newCall = leg

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802 - pjsua2 callback name
        info = self.getInfo()
        for i, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.media_on = True
                # Something must listen to the call's port, or the bridge never reads it (and levels stay 0).
                sink = self.recorder or pj.Endpoint.instance().audDevManager().getPlaybackDevMedia()
                self.getAudioMedia(i).startTransmit(sink)


class _AgentAccount(pj.Account):
    def __init__(self, runner: Runner) -> None:
        super().__init__()
        self.runner = runner

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802 - pjsua2 callback name
        self.runner.incoming(prm.callId)


def _parse_step(step: str) -> tuple[str, list[str]]:
    name, _, rest = step.partition(":")
    return name, rest.split(":") if rest else []


def _wav_seconds(path: str) -> float:
    with wave.open(path, "rb") as wav:
        return wav.getnframes() / wav.getframerate()


class Runner:
    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.medConfig.hasIoqueue = False
        cfg.medConfig.threadCnt = 0
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        cfg.logConfig.level = 5 if args.verbose else 1
        cfg.logConfig.consoleLevel = 5 if args.verbose else 1
        cfg.logConfig.msgLogging = 1 if args.verbose else 0
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()
        tcfg = pj.TransportConfig()
        tcfg.port = args.listen or 0
        tcfg.boundAddress = "127.0.0.1"
        kind = {"tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}.get(args.transport,
                                                                               pj.PJSIP_TRANSPORT_UDP)
        self.ep.transportCreate(kind, tcfg)
        self.ep.libStart()
        wanted = [c.strip().upper() for c in args.codecs.split(",") if c.strip()]
        for codec in self.ep.codecEnum2():
            name = str(codec.codecId).split("/", 1)[0].upper()
            self.ep.codecSetPriority(str(codec.codecId), 255 - wanted.index(name) if name in wanted else 0)
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{args.from_user}@127.0.0.1"
        acfg.mediaConfig.transportConfig.port = 0
        acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        self.calls: list[CallerCall] = []
        self.acc = _AgentAccount(self) if args.listen else pj.Account()
        self.acc.create(acfg, True)

    def poll(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self.ep.libHandleEvents(5)
            if time.monotonic() >= end:
                return

    def _attach_recorder(self, call: CallerCall, i: int) -> None:
        if self.args.record_dir:
            record_dir = Path(self.args.record_dir)
            record_dir.mkdir(parents=True, exist_ok=True)
            path = record_dir / f"call-{i}.wav"
            call.recorder = pj.AudioMediaRecorder()
            call.recorder.createRecorder(str(path))
            call.result.recording = str(path)

    def incoming(self, call_id: int) -> None:
        """Agent mode: ring, answer after --answer-after (never with --no-answer)."""
        call = CallerCall(self.acc, Result(index=len(self.calls)), call_id)
        self._attach_recorder(call, len(self.calls))
        prm = pj.CallOpParam(True)
        prm.statusCode = 180
        call.answer(prm)
        call.ring_at = time.monotonic()  # type: ignore[attr-defined]
        self.calls.append(call)

    def listen(self) -> list[Result]:
        args = self.args
        print(f"LISTENING {args.listen}", file=self.out, flush=True)
        deadline = time.monotonic() + args.timeout
        while not self.calls and time.monotonic() < deadline:
            self.ep.libHandleEvents(10)
        if self.calls and not args.no_answer:
            call = self.calls[0]
            while not call.disconnected and time.monotonic() < call.ring_at + args.answer_after:  # type: ignore[attr-defined]
                self.ep.libHandleEvents(10)
            if not call.disconnected:
                prm = pj.CallOpParam(True)
                prm.statusCode = 200
                call.answer(prm)
        return self.run(place_calls=False)

    def run(self, place_calls: bool = True) -> list[Result]:
        args = self.args
        for i in range(args.calls if place_calls else 0):
            result = Result(index=i)
            call = CallerCall(self.acc, result)
            self._attach_recorder(call, i)
            prm = pj.CallOpParam(True)
            for line in args.header:
                name, _, value = line.partition(":")
                header = pj.SipHeader()
                header.hName = name.strip()
                header.hValue = value.strip()
                prm.txOption.headers.append(header)
            call.makeCall(args.target, prm)
            call.dialled_at = time.monotonic()  # type: ignore[attr-defined]
            self.calls.append(call)
        steps = [_parse_step(s) for s in args.step]
        cursors = [0] * len(self.calls)
        marks: list[float | None] = [None] * len(self.calls)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            self.ep.libHandleEvents(5)
            busy = False
            for i, call in enumerate(self.calls):
                if call.disconnected:
                    continue
                busy = True
                if (args.cancel_after is not None and call.confirmed_at is None
                        and time.monotonic() > getattr(call, "dialled_at", 0.0) + args.cancel_after):
                    call.result.ended_by = "cancel"
                    call.hangup(pj.CallOpParam(True))
                    continue
                if call.confirmed_at is None or not call.media_on:
                    continue
                am = call.getAudioMedia(-1)
                # In this build the call port's "tx" level is what arrives from the far end.
                level = am.getTxLevel()
                if level > AUDIO_LEVEL:
                    call.result.heard_audio = True
                if cursors[i] >= len(steps):
                    continue
                name, params = steps[cursors[i]]
                now = time.monotonic()
                if marks[i] is None:
                    marks[i] = now
                    started = True
                else:
                    started = False
                since = now - (marks[i] or now)
                done = False
                if name == "wait_audio":
                    limit = float(params[0]) if params else 15.0
                    if level > AUDIO_LEVEL:
                        done = True
                    elif since > limit:
                        call.result.errors.append(f"step {cursors[i]}: no audio within {limit} s")
                        done = True
                elif name == "wait_silence":
                    quiet_s = float(params[0]) if params else 1.0
                    limit = float(params[1]) if len(params) > 1 else 30.0
                    if level > AUDIO_LEVEL or started:
                        call._quiet_since = now  # type: ignore[attr-defined]
                    if now - call._quiet_since >= quiet_s:  # type: ignore[attr-defined]
                        done = True
                    elif since > limit:
                        call.result.errors.append(f"step {cursors[i]}: no silence within {limit} s")
                        done = True
                elif name == "sleep":
                    done = since >= float(params[0])
                elif name == "dtmf":
                    dprm = pj.CallSendDtmfParam()
                    dprm.digits = params[0]
                    dprm.method = pj.PJSUA_DTMF_METHOD_RFC2833
                    dprm.duration = 160
                    call.sendDtmf(dprm)
                    done = True
                elif name == "info":
                    if started:
                        call.info_keys = params[0]
                    if not call.info_pending and call.info_keys:
                        call.send_next_info_key()
                    done = not call.info_pending and not call.info_keys
                elif name == "play":
                    if started:
                        call.player = pj.AudioMediaPlayer()
                        call.player.createPlayer(params[0], pj.PJMEDIA_FILE_NO_LOOP)
                        call.player.startTransmit(am)
                        call._play_s = _wav_seconds(params[0])  # type: ignore[attr-defined]
                    done = since >= call._play_s + 0.1  # type: ignore[attr-defined]
                elif name == "hangup":
                    call.result.ended_by = "local"
                    call.hangup(pj.CallOpParam(True))
                    done = True
                else:
                    call.result.errors.append(f"unknown step {name!r}")
                    done = True
                if done:
                    cursors[i] += 1
                    marks[i] = None
                    call.result.steps_done = cursors[i]
                    call.result.step_times.append(round(now - (call.confirmed_at or now), 4))
            if not busy:
                break
        for call in self.calls:
            if not call.disconnected:
                call.result.ended_by = call.result.ended_by or "timeout"
                try:
                    call.hangup(pj.CallOpParam(True))
                except pj.Error:
                    pass
        legs = [leg for c in self.calls for leg in c.transfer_legs]
        for leg in legs:
            if not leg.disconnected:
                try:
                    leg.hangup(pj.CallOpParam(True))
                except pj.Error:
                    pass
        end = time.monotonic() + 3
        while any(not c.disconnected for c in self.calls + legs) and time.monotonic() < end:
            self.ep.libHandleEvents(10)
        results = [c.result for c in self.calls]
        for call in self.calls:
            call.recorder = None
            call.player = None
            call.transfer_legs.clear()
        del legs
        self.calls.clear()
        self.poll(0.6)
        return results

    def close(self) -> None:
        self.acc.shutdown()
        del self.acc
        self.ep.libDestroy()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", help="URI to call (omit with --listen)")
    parser.add_argument("--listen", type=int, help="agent mode: wait for one call on this port")
    parser.add_argument("--answer-after", type=float, default=0.5)
    parser.add_argument("--no-answer", action="store_true", help="agent mode: keep ringing")
    parser.add_argument("--cancel-after", type=float, help="CANCEL a call not answered after this many seconds")
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--record-dir")
    parser.add_argument("--step", action="append", default=[])
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--from-user", default="13800138000")
    parser.add_argument("--transport", choices=["udp", "tcp", "tls"], default="udp")
    parser.add_argument("--codecs", default="PCMA,PCMU,G722")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    # pjlib prints its start-up lines on fd 1: keep stdout for LISTENING and the JSON result only
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    runner = Runner(args, out)
    try:
        results = runner.listen() if args.listen else runner.run()
    finally:
        runner.close()
    print(json.dumps([dataclasses.asdict(r) for r in results]), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
