"""Kamailio in front of sipp back ends standing in for the call workers: real SIP over loopback."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from ivr.frontdoor import SOURCE_HEADER, TRUNK_HEADER, WorkerAddress, probe_sip
from tests.frontdoor.helpers import (
    KAMAILIO,
    SIPP,
    free_port,
    frontdoor_settings,
    read_message_log,
    run_sipp_client,
    running_kamailio,
    sipp_servers,
)

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(not KAMAILIO.exists() or not Path(SIPP).exists(), reason="needs kamailio and sip-tester"),
]


async def test_calls_spread_over_workers_and_bye_reaches_the_same_worker(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    async with sipp_servers(["uas_answer.xml", "uas_answer.xml"], tmp_path) as workers, \
            running_kamailio(settings, [w.address for w in workers]):
        run = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_call.xml", tmp_path, calls=10)
        assert run.returncode == 0, run.log
        invites = [w.call_ids("INVITE") for w in workers]
        byes = [w.call_ids("BYE") for w in workers]
    assert all(invites), f"one worker got no call: {invites}"
    assert len(invites[0] | invites[1]) == 10 and not invites[0] & invites[1]
    assert byes == invites  # every BYE went to the worker that had the call


async def test_kamailio_marks_source_and_keeps_identity_from_trusted_trunk(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, allowed_networks=["127.0.0.0/8"],
                                  trunks=[{"name": "telecom", "network": "127.0.0.1/32"}])
    async with sipp_servers(["uas_answer.xml"], tmp_path) as workers, \
            running_kamailio(settings, [w.address for w in workers]):
        trunk = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_call.xml", tmp_path, calls=1)
        other = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_call.xml", tmp_path, calls=1,
                                      local_ip="127.0.0.2")
        assert trunk.returncode == 0 and other.returncode == 0, trunk.log + other.log
    invites = [m for m in read_message_log(workers[0].message_log)
               if m.direction == "received" and m.method == "INVITE"]
    by_source = {(m.header(SOURCE_HEADER) or "").split(":")[0]: m for m in invites}
    assert set(by_source) == {"127.0.0.1", "127.0.0.2"}
    from_trunk, from_other = by_source["127.0.0.1"], by_source["127.0.0.2"]
    assert from_trunk.header("P-Asserted-Identity") == "<sip:13812345678@127.0.0.1>"
    assert from_trunk.header(TRUNK_HEADER) == "telecom"
    assert from_trunk.header(SOURCE_HEADER).endswith(";transport=udp")
    assert from_other.header("P-Asserted-Identity") is None  # removed: not a trusted trunk
    assert from_other.header(TRUNK_HEADER) is None


async def test_full_worker_makes_the_call_go_to_the_other(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    async with sipp_servers(["uas_full.xml", "uas_answer.xml"], tmp_path) as (full, free), \
            running_kamailio(settings, [full.address, free.address]):
        run = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_call.xml", tmp_path, calls=6)
        assert run.returncode == 0, run.log
        assert len(free.call_ids("INVITE")) == 6
        assert full.call_ids("INVITE")  # round robin did offer it calls; each went on to the free worker
        assert full.call_ids("INVITE") <= free.call_ids("INVITE")


async def test_silent_worker_times_out_to_the_next(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    silent = WorkerAddress("127.0.0.1", free_port())  # nothing listens there
    async with sipp_servers(["uas_answer.xml"], tmp_path) as (free,), \
            running_kamailio(settings, [silent, free.address]):
        run = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_call.xml", tmp_path, calls=2,
                                    rate=1)
        assert run.returncode == 0, run.log
        assert len(free.call_ids("INVITE")) == 2


async def test_all_workers_full_gives_503_with_retry_after(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, retry_after_s=30)
    async with sipp_servers(["uas_full.xml", "uas_full.xml"], tmp_path) as workers, \
            running_kamailio(settings, [w.address for w in workers]):
        run = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_rejected_503.xml", tmp_path,
                                    calls=3)
    assert run.returncode == 0, run.log
    assert run.log.count("Retry-After 30") == 3
    replies = [m for m in run.messages if m.direction == "received" and m.first_line.startswith("SIP/2.0 503")]
    assert replies and all(m.header("Retry-After") == "30" for m in replies)


async def test_many_full_workers_end_in_503_not_the_branch_limit(tmp_path: Path) -> None:
    # 14 full workers: failover stops after 10 tries (tm allows 12 branches) with 503 + Retry-After.
    settings = frontdoor_settings(tmp_path, retry_after_s=30)
    async with sipp_servers(["uas_full.xml"] * 14, tmp_path) as workers, \
            running_kamailio(settings, [w.address for w in workers]):
        run = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_rejected_503.xml", tmp_path,
                                    calls=1)
    assert run.returncode == 0, run.log
    assert sum(len(w.call_ids("INVITE")) for w in workers) == 10


async def test_caller_outside_allowed_networks_gets_403(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, allowed_networks=["127.0.0.1/32"],
                                  trunks=[{"name": "t", "network": "127.0.0.1/32"}])
    async with sipp_servers(["uas_answer.xml"], tmp_path) as workers, \
            running_kamailio(settings, [w.address for w in workers]):
        run = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_rejected_403.xml", tmp_path,
                                    calls=1, local_ip="127.0.0.2")
        allowed = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_call.xml", tmp_path, calls=1)
        assert run.returncode == 0, run.log
        assert allowed.returncode == 0, allowed.log
        assert len(workers[0].call_ids("INVITE")) == 1


def _udp_exchange(target: tuple[str, int], payload: bytes, timeout_s: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(payload.replace(b"LOCALPORT", str(sock.getsockname()[1]).encode()), target)
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


_BAD_CSEQ = (
    b"INVITE sip:96536@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bKbad1\r\n"
    b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:96536@127.0.0.1>\r\nCall-ID: bad-cseq\r\nCSeq: 1 BYE\r\n"
    b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


async def test_malformed_messages_get_400_and_kamailio_lives(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    target = (settings.sip.host, settings.sip.port)
    async with sipp_servers(["uas_answer.xml"], tmp_path) as workers, \
            running_kamailio(settings, [w.address for w in workers]) as kamailio:
        garbage = await asyncio.to_thread(_udp_exchange, target, b"\x00\xff not sip at all\r\n\r\n", 0.5)
        assert garbage is None  # unparseable: dropped silently
        reply = await asyncio.to_thread(_udp_exchange, target, _BAD_CSEQ)
        assert reply is not None and reply.startswith(b"SIP/2.0 400 CSeq method does not match request method")
        bad_length = _BAD_CSEQ.replace(b"1 BYE", b"1 INVITE").replace(b"Content-Length: 0", b"Content-Length: 99")
        reply = await asyncio.to_thread(_udp_exchange, target, bad_length)
        assert reply is not None and reply.startswith(b"SIP/2.0 400 Content-Length mis-match")
        assert kamailio.returncode is None
        status = await probe_sip(*target)
        assert status is not None and status.code == 200
        run = await run_sipp_client(target, "uac_call.xml", tmp_path, calls=1)
        assert run.returncode == 0, run.log
        assert not workers[0].call_ids("INVITE") & {"bad-cseq"}


async def test_flood_from_one_address_is_dropped(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, trunks=[{"name": "t", "network": "127.0.0.1/32"}],
                                  kamailio={"pike_requests_per_2s": 5})
    target = (settings.sip.host, settings.sip.port)

    def flood() -> int:
        answered = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.3)
            sock.bind(("127.0.0.3", 0))
            port = sock.getsockname()[1]
            for i in range(40):
                sock.sendto(
                    f"OPTIONS sip:{target[0]}:{target[1]} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:{port};"
                    f"branch=z9hG4bKf{i}\r\nFrom: <sip:f@127.0.0.3>;tag={i}\r\nTo: <sip:{target[0]}>\r\n"
                    f"Call-ID: flood{i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n".encode(),
                    target)
            try:
                while True:
                    sock.recv(65535)
                    answered += 1
            except TimeoutError:
                return answered

    async with sipp_servers(["uas_answer.xml"], tmp_path) as workers, \
            running_kamailio(settings, [w.address for w in workers]) as kamailio:
        answered = await asyncio.to_thread(flood)
        assert 0 < answered < 40
        status = await probe_sip(*target)  # from 127.0.0.1, a trunk: not limited
        assert status is not None and status.code == 200
        assert kamailio.returncode is None


async def test_calls_over_tcp_reach_udp_workers(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    async with sipp_servers(["uas_answer.xml", "uas_answer.xml"], tmp_path) as workers, \
            running_kamailio(settings, [w.address for w in workers]):
        run = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_call.xml", tmp_path, calls=4,
                                    extra=["-t", "t1"])
        assert run.returncode == 0, run.log
        invites = [w.call_ids("INVITE") for w in workers]
        assert len(invites[0] | invites[1]) == 4
        assert [w.call_ids("BYE") for w in workers] == invites
    transports = {m.header(SOURCE_HEADER).rsplit("=", 1)[1] for w in workers for m in read_message_log(w.message_log)
                  if m.direction == "received" and m.method == "INVITE"}
    assert transports == {"tcp"}
