"""Rendering Kamailio's configuration from Settings, and Kamailio's own syntax check of it."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from pathlib import Path

import pytest

from ivr.frontdoor import (
    FrontDoorError,
    KamailioFiles,
    SipStatusLine,
    WorkerAddress,
    check_kamailio_config,
    kamailio_argv,
    kamailio_wanted,
    render_address_list,
    render_dispatcher_list,
    render_kamailio_cfg,
    write_kamailio_config,
)
from tests.frontdoor.helpers import KAMAILIO, free_port, frontdoor_settings, running_kamailio

needs_kamailio = pytest.mark.skipif(not KAMAILIO.exists(), reason="Debian package kamailio is not installed")
TLS_MODULE = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so")  # Debian package kamailio-tls-modules
WORKERS = [WorkerAddress("127.0.0.1", 5070), WorkerAddress("127.0.0.1", 5071)]


def _files(tmp_path: Path) -> KamailioFiles:
    return KamailioFiles(tmp_path / "k.cfg", tmp_path / "d.list", tmp_path / "a.list")


def test_dispatcher_list_has_one_destination_per_worker() -> None:
    text = render_dispatcher_list([*WORKERS, WorkerAddress("::1", 5072), WorkerAddress("127.0.0.1", 5073, "tcp")])
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "1 sip:127.0.0.1:5070 0 0 duid=worker0",
        "1 sip:127.0.0.1:5071 0 0 duid=worker1",
        "1 sip:[::1]:5072 0 0 duid=worker2",
        "1 sip:127.0.0.1:5073;transport=tcp 0 0 duid=worker3",
    ]


def test_address_list_groups_callers_trunks_and_trusted_identity(tmp_path: Path) -> None:
    settings = frontdoor_settings(
        tmp_path,
        allowed_networks=["10.1.0.0/16", "2001:db8::/32"],
        trunks=[{"name": "telecom trunk", "network": "192.0.2.7/32"},
                {"name": "pbx", "network": "198.51.100.0/24", "trusts_identity": False}],
    )
    lines = [line for line in render_address_list(settings).splitlines() if not line.startswith("#")]
    assert lines == [
        "1 10.1.0.0 16 0",
        "1 2001:db8:: 32 0",
        "1 192.0.2.7 32 0 telecom_trunk",
        "3 192.0.2.7 32 0 telecom_trunk",
        "2 192.0.2.7 32 0 telecom_trunk",
        "1 198.51.100.0 24 0 pbx",
        "3 198.51.100.0 24 0 pbx",
    ]


def test_cfg_carries_the_settings(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, port=5999, retry_after_s=45,
                                  kamailio={"pike_requests_per_2s": 17, "options_interval_s": 3})
    cfg = render_kamailio_cfg(settings, _files(tmp_path))
    assert "@@" not in cfg
    assert "listen=udp:127.0.0.1:5999\n" in cfg
    assert "listen=tcp:127.0.0.1:5999\n" in cfg
    assert 'modparam("pike", "reqs_density_per_unit", 17)' in cfg
    assert 'modparam("dispatcher", "ds_ping_interval", 3)' in cfg
    assert 'modparam("dispatcher", "ds_ping_from", "sip:frontdoor@127.0.0.1")' in cfg
    assert cfg.count('append_to_reply("Retry-After: 45\\r\\n");') == 2
    assert f'modparam("dispatcher", "list_file", "{tmp_path / "d.list"}")' in cfg
    for header in ("P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID"):
        assert f'remove_hf("{header}");' in cfg
    assert 'append_hf("X-Hotline-Source: $si:$sp;transport=$pr\\r\\n");' in cfg
    assert "WITH_TLS\n" not in cfg.split("####### Global")[0]


def test_wildcard_host_advertises_the_public_address(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, host="0.0.0.0", port=5060, public_address="203.0.113.9",
                                  transports=["udp"])
    cfg = render_kamailio_cfg(settings, _files(tmp_path))
    assert "listen=udp:0.0.0.0:5060 advertise 203.0.113.9:5060\n" in cfg
    assert "listen=tcp" not in cfg
    assert "disable_tcp=yes" in cfg
    assert 'alias="203.0.113.9:5060"' in cfg


def test_quote_in_a_value_is_refused(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, public_address='evil"host')
    with pytest.raises(FrontDoorError, match=r"""value 'evil"host' cannot go into kamailio.cfg"""):
        render_kamailio_cfg(settings, _files(tmp_path))


def test_write_needs_a_worker(tmp_path: Path) -> None:
    with pytest.raises(FrontDoorError, match="Kamailio needs at least one worker to dispatch to"):
        write_kamailio_config(frontdoor_settings(tmp_path), [])


def test_kamailio_wanted_follows_the_setting(tmp_path: Path) -> None:
    base = frontdoor_settings(tmp_path)
    missing = tmp_path / "no-kamailio"

    def with_kamailio(**changes: object) -> object:
        sip = dataclasses.replace(base.sip, kamailio=dataclasses.replace(base.sip.kamailio, **changes))
        return base.replace(sip=sip)

    assert kamailio_wanted(with_kamailio(enabled="no")) is False
    assert kamailio_wanted(with_kamailio(enabled="auto", binary=missing)) is False
    with pytest.raises(FrontDoorError, match="sip.kamailio.enabled is yes but .*no-kamailio does not exist"):
        kamailio_wanted(with_kamailio(enabled="yes", binary=missing))
    if KAMAILIO.exists():
        assert kamailio_wanted(with_kamailio(enabled="auto", binary=KAMAILIO)) is True


def test_status_line_parse() -> None:
    assert SipStatusLine.parse(b"SIP/2.0 503 Service Unavailable\r\nVia: x\r\n") == SipStatusLine(
        503, "Service Unavailable")
    assert bytes(SipStatusLine(200, "OK")) == b"SIP/2.0 200 OK"
    with pytest.raises(ValueError, match="not a SIP status line: 'INVITE sip:a@b SIP/2.0'"):
        SipStatusLine.parse(b"INVITE sip:a@b SIP/2.0\r\n")


@needs_kamailio
async def test_kamailio_accepts_the_rendered_config(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path, trunks=[{"name": "t", "network": "127.0.0.1/32"}])
    files = write_kamailio_config(settings, WORKERS)
    assert {p.name for p in files.cfg.parent.iterdir()} == {"kamailio.cfg", "dispatcher.list", "address.list"}
    output = await check_kamailio_config(settings, files)
    assert "config file ok" in output.lower()
    assert kamailio_argv(settings, files)[-2:] == ["-DD", "-E"]


@needs_kamailio
async def test_kamailio_check_reports_errors(tmp_path: Path) -> None:
    settings = frontdoor_settings(tmp_path)
    files = write_kamailio_config(settings, WORKERS)
    files.cfg.write_text(files.cfg.read_text() + "\nroute[BROKEN] { no_such_function(); }\n")
    with pytest.raises(FrontDoorError, match="kamailio -c rejected .*kamailio.cfg"):
        await check_kamailio_config(settings, files)


@needs_kamailio
async def test_tls_config_and_handshake(tmp_path: Path) -> None:
    """TLS renders a tls listener and tls.cfg. Debian's kamailio package has no tls.so: without the package
    kamailio-tls-modules the check says what to install; with it, Kamailio answers OPTIONS over TLS."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    tls_port = free_port()
    settings = frontdoor_settings(tmp_path, tls={"enabled": True, "port": tls_port, "cert_file": str(cert),
                                                 "key_file": str(key)})
    files = write_kamailio_config(settings, WORKERS)
    assert files.tls_cfg is not None and f"certificate = {cert}" in files.tls_cfg.read_text()
    cfg = files.cfg.read_text()
    assert f"listen=tls:127.0.0.1:{tls_port}\n" in cfg and "#!define WITH_TLS" in cfg
    if not TLS_MODULE.exists():
        with pytest.raises(FrontDoorError, match="kamailio-tls-modules"):
            await check_kamailio_config(settings, files)
        return
    openssl = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(cert), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    assert await openssl.wait() == 0
    await check_kamailio_config(settings, files)
    async with running_kamailio(settings, WORKERS):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", tls_port, ssl=context)
        try:
            local_port = writer.get_extra_info("sockname")[1]
            writer.write(
                f"OPTIONS sip:127.0.0.1:{tls_port};transport=tls SIP/2.0\r\n"
                f"Via: SIP/2.0/TLS 127.0.0.1:{local_port};branch=z9hG4bKtls1\r\n"
                "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tls-probe\r\n"
                "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
        finally:
            writer.close()
            await writer.wait_closed()
    assert status == b"SIP/2.0 200 OK\r\n"
