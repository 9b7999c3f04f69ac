"""Junk DTMF into a real worker's call (demo flow), from a raw SIP/RTP peer (tests/sip/rawcall.py): SIP INFO
requests with broken or foreign bodies, RFC 4733 packets with events that are no key, a truncated one, a key that
is not on a phone's pad (A), and a flood of keys. Every INFO gets a final response, junk is ignored, the keys
pressed around it reach the flow in order, and the worker lives. (Through Kamailio, where the junk INFO gets the
4xx that names what is wrong: tests/hotline/test_through_kamailio.py.)"""

from __future__ import annotations

import re

import pytest

from tests.sip.harness import WorkerProcess
from tests.sip.rawcall import RawCall, send_junk_keys

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.timeout(60)]


def test_junk_keys_are_ignored_and_real_keys_around_them_arrive(worker: WorkerProcess, raw_call: RawCall) -> None:
    worker.wait_log("caller=")
    assert raw_call.info_key("4") == 200
    codes = send_junk_keys(raw_call)
    assert all(200 <= code < 600 for code in codes), codes  # pjsua: 200, 400 or its own 500 (see rawcall.py)
    raw_call.rfc4733(2)
    raw_call.audio(10)
    worker.wait_log("key received (rfc4733)")  # RTP goes through the media clock: an INFO sent now would overtake
    assert raw_call.info_key("#") == 200
    log = worker.wait_log("digits=")
    assert re.search(r"DEMO \S+ digits=42\n", log), log[-2000:]
    assert "ignored a key that is not on a phone's pad (info, 1 characters)" in log  # the Z
    assert raw_call.request("BYE") == 200
    assert worker.alive() and "Traceback" not in worker.log()


def test_a_flood_of_keys_is_bounded_and_the_call_goes_on(worker: WorkerProcess, raw_call: RawCall) -> None:
    worker.wait_log("caller=")
    for _ in range(100):  # far more keys than any menu takes, faster than any caller presses them
        assert raw_call.info_key("7") == 200
    log = worker.wait_log("digits=")
    assert re.search(r"DEMO \S+ digits=7{8}\n", log), log[-2000:]  # the demo takes 8 keys
    worker.wait_log("keys dropped: more than 64 keys waiting unread")  # the other 92 did not all fit
    assert raw_call.request("BYE") == 200
    assert worker.alive() and "Traceback" not in worker.log()
