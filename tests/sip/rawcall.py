"""A call placed by hand on raw sockets, for input no well-behaved SIP client sends: INVITE/ACK, in-dialog
requests with rising CSeq (following the Record-Route of a front door), RTP and RFC 4733 packets built byte by byte
from our own RTP socket."""

from __future__ import annotations

import re
import select
import socket
import struct
import time
import uuid

from tests.sip.harness import UdpPeer, sdp_offer, sip_request, status_code

EVENT_PT = 101  # telephone-event, as offered


def header(message: str, name: str) -> str:
    match = re.search(rf"^{name}:.*$", message, re.M | re.I)
    assert match, f"no {name} header in:\n{message}"
    return match.group(0).strip()


class RawCall:
    """Dial ``sip:96536@127.0.0.1:<port>`` (a worker or the front door) and wait for its 200 OK, then ACK."""

    def __init__(self, port: int, *, from_user: str = "13900001111") -> None:
        self.peer = UdpPeer()
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.call_id = uuid.uuid4().hex
        self.cseq = 1
        self.seq = 0
        self.ts = 0
        offer = sdp_offer(self.rtp.getsockname()[1], f"8 {EVENT_PT}",
                          f"a=rtpmap:8 PCMA/8000\r\na=rtpmap:{EVENT_PT} telephone-event/8000\r\n"
                          f"a=fmtp:{EVENT_PT} 0-16\r\na=sendrecv\r\n")
        invite = sip_request("INVITE", port, body=offer, local_port=self.peer.port, call_id=self.call_id)
        invite = invite.replace(b"<sip:13900001111@", f"<sip:{from_user}@".encode())
        self.peer.send(invite, port)
        finals = [m for m in self.peer.responses(15.0, call_id=self.call_id) if (status_code(m) or 0) >= 200]
        assert finals and status_code(finals[-1]) == 200, finals
        ok = finals[-1]
        self.from_line = header(ok, "From")
        self.to_line = header(ok, "To")
        self.contact = re.search(r"<([^>]+)>", header(ok, "Contact")).group(1)  # type: ignore[union-attr]
        # The route set of the UAC: the Record-Route entries in reverse; requests go to the first one.
        record_routes = [uri for line in re.findall(r"^Record-Route:(.*)$", ok, re.M | re.I)
                         for uri in re.findall(r"<([^>]+)>", line)]
        self.routes = list(reversed(record_routes))
        next_hop = self.routes[0] if self.routes else self.contact
        self.next_port = int(re.search(r"@?[\d.]+:(\d+)", next_hop).group(1))  # type: ignore[union-attr]
        media_port = int(re.search(r"^m=audio (\d+)", ok, re.M).group(1))  # type: ignore[union-attr]
        self.rtp_remote = ("127.0.0.1", media_port)
        self._send("ACK", cseq=1)

    def _send(self, method: str, *, cseq: int, body: bytes = b"", content_type: str | None = None,
              headers: str = "") -> None:
        head = (f"{method} {self.contact} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.peer.port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\n"
                f"Max-Forwards: 70\r\n{self.from_line}\r\n{self.to_line}\r\nCall-ID: {self.call_id}\r\n"
                f"CSeq: {cseq} {method}\r\nContact: <sip:caller@127.0.0.1:{self.peer.port}>\r\n{headers}")
        head += "".join(f"Route: <{uri}>\r\n" for uri in self.routes)
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.peer.send(head.encode() + body, self.next_port)

    def request(self, method: str, body: bytes = b"", content_type: str | None = None, headers: str = "") -> int:
        """Send an in-dialog request (the next CSeq; ``headers`` are extra CRLF-ended lines) and return its final
        status."""
        self.cseq += 1
        self._send(method, cseq=self.cseq, body=body, content_type=content_type, headers=headers)
        wanted = re.compile(rf"^CSeq:\s*{self.cseq} {method}\s*$", re.M | re.I)
        seen: list[str] = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.peer.sock], [], [], 0.1)
            if not ready:
                continue
            message = self.peer.sock.recv(65535).decode(errors="replace")
            seen.append(message.split("\r\n", 1)[0])
            code = status_code(message)
            if code is not None and code >= 200 and wanted.search(message):
                return code
        raise AssertionError(f"no final response to {method} (CSeq {self.cseq}); got {seen}")

    def tags(self) -> tuple[str, str]:
        """(our From tag, the far end's To tag)."""
        ours = re.search(r";tag=([^;>\s]+)", self.from_line)
        theirs = re.search(r";tag=([^;>\s]+)", self.to_line)
        assert ours and theirs, (self.from_line, self.to_line)
        return ours.group(1), theirs.group(1)

    def info_key(self, signal: str) -> int:
        return self.request("INFO", f"Signal={signal}\r\nDuration=160\r\n".encode(), "application/dtmf-relay")

    def rtp_packet(self, pt: int, payload: bytes, *, marker: bool = False) -> None:
        self.seq += 1
        head = struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), self.seq & 0xFFFF, self.ts, 0x5EED)
        self.rtp.sendto(head + payload, self.rtp_remote)

    def audio(self, frames: int = 5) -> None:
        """Some PCMA silence, as a phone sends all the time."""
        for _ in range(frames):
            self.ts += 160
            self.rtp_packet(8, b"\xd5" * 160)

    def rfc4733(self, event: int) -> None:
        """One key press as RFC 4733 packets: three updates, then the end packet three times."""
        self.ts += 160
        for i, (end, duration) in enumerate([(False, 160), (False, 320), (False, 480)] + [(True, 640)] * 3):
            self.rtp_packet(EVENT_PT, struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration),
                            marker=i == 0)

    def close(self) -> None:
        self.peer.close()
        self.rtp.close()


#: SIP INFO bodies that carry no key a caller can press, with the status the front door gives each (the worker's
#: pjsua answers some of them 500 itself: it has no INFO handling for an application to answer them otherwise).
JUNK_INFO = [
    (b"Signal=Z\r\nDuration=160\r\n", "application/dtmf-relay", 400),  # not a key
    (b"Signal=\r\nDuration=160\r\n", "application/dtmf-relay", 400),  # no key
    (b"", "application/dtmf-relay", 400),  # no body
    (b"this is not a key", "application/dtmf-relay", 400),
    (b"\xff\xfe\x00garbage", "application/dtmf-relay", 400),  # binary
    (b"5", "application/dtmf", 415),  # a key, in a format the workers do not take
    (b"Signal=5", "text/plain", 415),  # a body nobody asked for
    (b"Duration=" + b"1" * 1000 + b"\r\n", "application/dtmf-relay", 413),  # far too long for a key
]
#: dtmf-relay bodies on which pjsua 2.15 aborts the whole worker process (the body ends right after "Signal="
#: or the key, with no CRLF): sent only through the front door, which refuses the first and rewrites the second.
ABORTS_PJSUA = [b"Signal=", b"Signal=1"]


def send_junk_keys(call: RawCall) -> list[int]:
    """Junk INFO requests and junk RFC 4733 packets; returns the INFO requests' final statuses."""
    call.audio()
    codes = [call.request("INFO", body, content_type) for body, content_type, _ in JUNK_INFO]
    for event in (200, 255, 16):  # RFC 4733 events that are no key (16 is the flash)
        call.rfc4733(event)
    call.rtp_packet(EVENT_PT, b"\x05\x80", marker=True)  # truncated: 2 of the 4 bytes
    call.rfc4733(12)  # "A": a DTMF key, but not on a phone's pad and never in a menu
    call.audio()
    return codes
