"""A measuring caller written on raw UDP: SIP through the front door (route set from Record-Route), RTP both ways,
RFC 4733 keys, and wire timestamps of every received RTP packet.

Key-to-prompt delay, as measured here: the caller waits until the prompt it hears has ended (``silence_s`` of
silent RTP after audio), sends a key as RFC 4733 events (PT from the answer), and takes the time from sending the
first event packet to receiving the first RTP packet that carries audio (any sample above ``AUDIO_LEVEL``) —
i.e. the first packet of the next prompt as it arrives at the caller, including the worker's event loop, the call
flow (key 3 reads the top guides from the store) and pjsua2's media path (the conference bridge ticks every
20 ms, so up to 20 ms of the delay is frame alignment). Leading silence inside the prompt's WAV would count too
(run.py reports it for the prompts used). Keys are pressed after the prompt, not as barge-in, so the delay does
not include stopping the old prompt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import re
import struct
import time

__all__ = ["ProbeResult", "probe_call"]

log = logging.getLogger(__name__)

AUDIO_LEVEL = 64  # |sample| above this (of 32767) counts as audio; pjmedia's silence is exactly 0
FRAME_S = 0.02
_SILENCE_PCMA = bytes([0xD5]) * 160


def _alaw_to_linear(a: int) -> int:
    a ^= 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


_ALAW_ABS = [abs(_alaw_to_linear(i)) for i in range(256)]
_LOUD = bytes(i for i in range(256) if _ALAW_ABS[i] > AUDIO_LEVEL)


def _is_audio(payload: bytes) -> bool:
    # fast path: a payload is audio when any byte decodes above the level
    return len(payload.translate(None, _LOUD)) != len(payload)


@dataclasses.dataclass
class ProbeResult:
    ok: bool = False
    error: str = ""
    setup_ms: float | None = None
    first_audio_ms: float | None = None
    key_delays_ms: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    missed_keys: int = 0
    log: list[str] = dataclasses.field(default_factory=list)  # what happened when, for a look at odd results


class _Sip(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, dict[str, list[str]], str, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # the selector transport is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("utf-8", "replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        if not lines or not lines[0]:
            return
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        self.queue.put_nowait((lines[0], headers, body, addr))


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.last_audio_at = 0.0
        self.audio_seen = False
        self.packets = 0
        self.audio_after: float | None = None  # set to a time to be told of the first audio after it
        self.audio_event = asyncio.Event()
        self.audio_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # the selector transport is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        self.packets += 1
        if len(data) < 12 or (data[1] & 0x7F) != 8:
            return
        if _is_audio(data[12:]):
            self.last_audio_at = now
            self.audio_seen = True
            if self.audio_after is not None and now > self.audio_after and not self.audio_event.is_set():
                self.audio_at = now
                self.audio_event.set()


class _Sender:
    """RTP out every 20 ms: PCMA silence, or an RFC 4733 event when a key is queued."""

    def __init__(self, rtp: _Rtp, remote: tuple[str, int], event_pt: int) -> None:
        self.rtp = rtp
        self.remote = remote
        self.event_pt = event_pt
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.keys: asyncio.Queue[tuple[str, asyncio.Future[float]]] = asyncio.Queue()

    def _send(self, pt: int, marker: bool, ts: int, payload: bytes) -> None:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF, ts & 0xFFFFFFFF,
                             self.ssrc)
        self.seq += 1
        assert self.rtp.transport is not None
        self.rtp.transport.sendto(header + payload, self.remote)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        event_code = {str(d): d for d in range(10)} | {"*": 10, "#": 11}
        while True:
            if not self.keys.empty():
                key, sent = self.keys.get_nowait()
                code = event_code[key]
                start_ts = self.ts
                for i in range(8):  # 5 updates (100 ms), then the end packet 3 times
                    end = i >= 5
                    duration = 160 * min(i + 1, 5)
                    payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, duration)
                    self._send(self.event_pt, i == 0, start_ts, payload)
                    if i == 0:
                        sent.set_result(time.monotonic())
                    if i < 5:
                        self.ts += 160
                        next_at += FRAME_S
                        await asyncio.sleep(max(0.0, next_at - loop.time()))
                continue
            self._send(8, False, self.ts, _SILENCE_PCMA)
            self.ts += 160
            next_at += FRAME_S
            delay = next_at - loop.time()
            if delay < -0.2:  # fell far behind (overloaded bench): do not burst
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(max(0.0, delay))


def _sdp(addr: str, rtp_port: int) -> str:
    return ("v=0\r\n"
            f"o=probe {rtp_port} 1 IN IP4 {addr}\r\n"
            "s=-\r\n"
            f"c=IN IP4 {addr}\r\n"
            "t=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 8 101\r\n"
            "a=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-15\r\n"
            "a=sendrecv\r\n")


def _uri_of(value: str) -> str:
    match = re.search(r"<([^>]+)>", value)
    return match.group(1) if match else value.split(";")[0].strip()


def _split_routes(values: list[str]) -> list[str]:
    routes: list[str] = []
    for value in values:
        routes.extend(part.strip() for part in re.split(r",(?=\s*<)", value) if part.strip())
    return routes


async def probe_call(target: tuple[str, int], *, keys: list[str], hold_s: float, silence_s: float = 1.2,
                     number: str = "13900000000", key_timeout_s: float = 5.0,
                     prompt_timeout_s: float = 40.0) -> ProbeResult:
    """One call: wait for the first prompt to end, press each key after the prompt before it has ended and time
    the next prompt, hang up ``hold_s`` after the answer (or after the last key, whichever is later)."""
    loop = asyncio.get_running_loop()
    result = ProbeResult()
    host = "127.0.0.1"
    sip_t, sip = await loop.create_datagram_endpoint(_Sip, local_addr=(host, 0))
    rtp_t, rtp = await loop.create_datagram_endpoint(_Rtp, local_addr=(host, 0))
    sender_task: asyncio.Task[None] | None = None
    try:
        sip_port = sip_t.get_extra_info("sockname")[1]
        rtp_port = rtp_t.get_extra_info("sockname")[1]
        call_id = f"probe-{os.getpid()}-{random.getrandbits(48):x}"
        tag = f"{random.getrandbits(32):x}"
        from_hdr = f"<sip:{number}@{host}>;tag={tag}"
        to_uri = f"sip:96536@{target[0]}:{target[1]}"
        body = _sdp(host, rtp_port)

        def request(method: str, uri: str, cseq: int, extra: list[str], payload: str = "",
                    to_hdr: str = f"<{to_uri}>") -> bytes:
            branch = f"z9hG4bK{random.getrandbits(64):x}"
            lines = [f"{method} {uri} SIP/2.0", f"Via: SIP/2.0/UDP {host}:{sip_port};rport;branch={branch}",
                     "Max-Forwards: 70", f"From: {from_hdr}", f"To: {to_hdr}", f"Call-ID: {call_id}",
                     f"CSeq: {cseq} {method}", *extra]
            if payload:
                lines.append("Content-Type: application/sdp")
            lines.append(f"Content-Length: {len(payload.encode())}")
            return ("\r\n".join(lines) + "\r\n\r\n" + payload).encode()

        invite = request("INVITE", to_uri, 1, [f"Contact: <sip:probe@{host}:{sip_port}>",
                                               f"P-Asserted-Identity: <sip:{number}@{host}>"], body)
        started = time.monotonic()
        sip_t.sendto(invite, target)
        next_retx = started + 0.5
        final = None
        while final is None:
            timeout = max(0.01, next_retx - time.monotonic())
            try:
                first, headers, resp_body, _addr = await asyncio.wait_for(sip.queue.get(), timeout)
            except TimeoutError:
                if time.monotonic() - started > 32:
                    result.error = "INVITE timed out"
                    return result
                sip_t.sendto(invite, target)
                next_retx = time.monotonic() + 0.5
                continue
            if not first.startswith("SIP/2.0 "):
                continue
            code = int(first.split()[1])
            if code >= 200:
                final = (code, headers, resp_body)
            else:
                next_retx = time.monotonic() + 5
        code, headers, resp_body = final
        to_value = headers.get("to", [""])[0]
        if code != 200:
            ack = request("ACK", to_uri, 1, [], to_hdr=to_value)
            sip_t.sendto(ack, target)
            result.error = f"INVITE answered {code}"
            return result
        result.setup_ms = (time.monotonic() - started) * 1000
        contact = _uri_of(headers.get("contact", [""])[0])
        routes = list(reversed(_split_routes(headers.get("record-route", []))))
        route_hdrs = [f"Route: {', '.join(routes)}"] if routes else []
        next_hop = target
        conn = re.search(r"c=IN IP4 (\S+)", resp_body)
        media = re.search(r"m=audio (\d+) RTP/AVP ([\d ]+)", resp_body)
        te = re.search(r"a=rtpmap:(\d+) telephone-event", resp_body)
        if not conn or not media:
            result.error = "no audio in the answer"
            return result
        ack = request("ACK", contact, 1, route_hdrs, to_hdr=to_value)
        sip_t.sendto(ack, next_hop)
        answered = time.monotonic()
        sender = _Sender(rtp, (conn.group(1), int(media.group(1))), int(te.group(1)) if te else 101)
        sender_task = asyncio.create_task(sender.run())
        hung_up_by_peer = False

        async def watch_sip() -> None:
            nonlocal hung_up_by_peer
            while True:
                first_line, hdrs, _b, addr = await sip.queue.get()
                if first_line.startswith("SIP/2.0 200") and "INVITE" in hdrs.get("cseq", [""])[0]:
                    sip_t.sendto(ack, next_hop)  # 200 retransmitted: ACK again
                elif not first_line.startswith("SIP/2.0"):
                    method = first_line.split()[0]
                    vias = [f"Via: {v}" for v in hdrs.get("via", [])]
                    ok = "\r\n".join(["SIP/2.0 200 OK", *vias, f"From: {hdrs.get('from', [''])[0]}",
                                      f"To: {hdrs.get('to', [''])[0]}", f"Call-ID: {call_id}",
                                      f"CSeq: {hdrs.get('cseq', [''])[0]}", "Content-Length: 0"]) + "\r\n\r\n"
                    sip_t.sendto(ok.encode(), addr)
                    if method == "BYE":
                        hung_up_by_peer = True
                        return

        watcher = asyncio.create_task(watch_sip())
        try:
            # the first prompt (welcome + main menu) must start and end
            deadline = time.monotonic() + prompt_timeout_s
            while not rtp.audio_seen:
                if time.monotonic() > deadline or watcher.done():
                    result.error = "no audio from the IVR"
                    return result
                await asyncio.sleep(0.02)
            result.first_audio_ms = (rtp.last_audio_at - answered) * 1000
            for key in keys:
                if time.monotonic() - answered > hold_s:
                    break
                deadline = time.monotonic() + prompt_timeout_s
                while time.monotonic() - rtp.last_audio_at < silence_s:
                    if time.monotonic() > deadline or watcher.done():
                        result.error = "prompt did not end" if not watcher.done() else "IVR hung up"
                        return result
                    await asyncio.sleep(0.02)
                if time.monotonic() - answered > hold_s:  # only keys pressed while the step's load is up
                    break
                sent: asyncio.Future[float] = loop.create_future()
                rtp.audio_event.clear()
                rtp.audio_after = None
                await sender.keys.put((key, sent))
                t0 = await sent
                rtp.audio_after = t0
                try:
                    await asyncio.wait_for(rtp.audio_event.wait(), key_timeout_s)
                except TimeoutError:
                    result.missed_keys += 1
                    result.log.append(f"{t0 - answered:.2f} s: key {key}: no audio within {key_timeout_s:g} s")
                    continue
                result.key_delays_ms.append((key, (rtp.audio_at - t0) * 1000))
                result.log.append(f"{t0 - answered:.2f} s: key {key}: audio after {(rtp.audio_at - t0) * 1000:.0f} ms")
            remaining = hold_s - (time.monotonic() - answered)
            if remaining > 0:
                done, _ = await asyncio.wait({watcher}, timeout=remaining)
            if hung_up_by_peer or watcher.done():
                result.error = "IVR hung up before the caller"
                return result
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        bye = request("BYE", contact, 2, route_hdrs, to_hdr=to_value)
        sip_t.sendto(bye, next_hop)
        bye_at = time.monotonic()
        while True:
            try:
                first, hdrs, _b, _a = await asyncio.wait_for(sip.queue.get(), 0.5)
            except TimeoutError:
                if time.monotonic() - bye_at > 8:
                    result.error = "BYE not answered"
                    return result
                sip_t.sendto(bye, next_hop)
                continue
            if first.startswith("SIP/2.0") and "BYE" in hdrs.get("cseq", [""])[0]:
                if first.startswith("SIP/2.0 200"):
                    result.ok = True
                else:
                    result.error = f"BYE answered {first[8:]}"
                return result
    finally:
        if sender_task is not None:
            sender_task.cancel()
            await asyncio.gather(sender_task, return_exceptions=True)
        sip_t.close()
        rtp_t.close()
