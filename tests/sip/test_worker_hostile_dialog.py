"""A caller trying to make the hotline work for them, against a real worker (demo flow) from a raw SIP peer
(tests/sip/rawcall.py): a REFER asking the hotline to call some number (toll fraud; pjsua2 would accept it and dial
by default), and an INVITE with Replaces taking over someone's call. Both get 403, the hotline dials no one, and
the call goes on. (The front door refuses both before a worker sees them: tests/hotline/test_through_kamailio.py.)"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

from tests.sip.harness import UdpPeer, WorkerProcess, sdp_offer, sip_request, status_code
from tests.sip.rawcall import RawCall

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.fixture
def trap() -> Iterator[socket.socket]:
    """Where a REFER points: any INVITE arriving here means the hotline dialled out for the caller."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


def _dialled(trap: socket.socket, within_s: float) -> list[str]:
    ready, _, _ = select.select([trap], [], [], within_s)  # waits for an absence: bounded by within_s
    return [trap.recv(65535).decode(errors="replace").split("\r\n", 1)[0]] if ready else []


def test_a_refer_from_the_caller_is_refused_and_the_hotline_dials_no_one(
        worker: WorkerProcess, raw_call: RawCall, trap: socket.socket) -> None:
    worker.wait_log("caller=")
    target = f"sip:0085212345678@127.0.0.1:{trap.getsockname()[1]}"
    assert raw_call.request("REFER", headers=f"Refer-To: <{target}>\r\nReferred-By: <sip:x@127.0.0.1>\r\n") == 403
    assert _dialled(trap, 2.0) == []
    worker.wait_log("refused a transfer request (REFER) from the far end")
    assert raw_call.info_key("5") == 200  # the call goes on
    assert raw_call.info_key("#") == 200
    worker.wait_log("digits=5")
    assert raw_call.request("BYE") == 200
    assert worker.alive() and "Traceback" not in worker.log()


def test_an_invite_replacing_a_call_is_refused_and_the_call_goes_on(worker: WorkerProcess, raw_call: RawCall) -> None:
    worker.wait_log("caller=")
    ours, theirs = raw_call.tags()
    intruder = UdpPeer()
    try:
        invite = sip_request("INVITE", worker.port, body=sdp_offer(40010, "8", "a=rtpmap:8 PCMA/8000\r\n"),
                             local_port=intruder.port,
                             extra=f"Replaces: {raw_call.call_id};to-tag={theirs};from-tag={ours}\r\n")
        intruder.send(invite, worker.port)
        finals = [status_code(m) for m in intruder.responses(5.0) if (status_code(m) or 0) >= 200]
    finally:
        intruder.close()
    assert finals == [403], finals
    worker.wait_log("refused an INVITE that would replace the call")
    assert raw_call.info_key("6") == 200
    assert raw_call.info_key("#") == 200
    worker.wait_log("digits=6")
    assert raw_call.request("BYE") == 200
    assert worker.alive() and "Traceback" not in worker.log()
