"""The whole front door with the real pjsua2 workers (``python -m ivr.worker``) behind Kamailio."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from ivr.supervisor import Supervisor
from tests.frontdoor.helpers import KAMAILIO, SIPP, free_port, run_sipp_client
from tickets.config import load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.sip,
    pytest.mark.slow,
    pytest.mark.skipif(not KAMAILIO.exists() or not Path(SIPP).exists(), reason="needs kamailio and sip-tester"),
    pytest.mark.skipif(importlib.util.find_spec("ivr.worker") is None, reason="ivr.worker is not written yet"),
]


async def test_calls_through_kamailio_reach_both_real_workers(tmp_path: Path) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    config["database"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    config["paths"].update(data_dir=str(tmp_path), recordings_dir=str(tmp_path / "recordings"),
                           run_dir=str(tmp_path / "run"),
                           prompt_cache_dir=str(PROJECT_ROOT / "var" / "test-prompts"))
    for key in ("district_file", "sample_catalog"):
        config["paths"][key] = str(PROJECT_ROOT / config["paths"][key])
    config["ivr"].update(menu_file=str(PROJECT_ROOT / "menus" / "main.yaml"),
                         prompts_dir=str(PROJECT_ROOT / "menus" / "prompts" / "zh"))
    config["asr"]["model_path"] = str(PROJECT_ROOT / config["asr"]["model_path"])
    config["sip"].update(host="127.0.0.1", port=free_port(), workers=2, worker_base_port=free_port(),
                         rtp_port_start=free_port() & ~1, rtp_ports_per_worker=40)
    config["security"] = {"secret_key": "test-secret-key-0123456789", "admin_token": "test-admin-token"}
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    settings = load_settings(config_file, env={})
    sup = Supervisor(settings, use_kamailio=True, run_migrations=True, serve_web=False, grace_s=5.0,
                     ready_timeout_s=60.0)
    try:
        await sup.start()
        ports = {slot.ready.sip_port for slot in sup.workers if slot.ready}
        assert len(ports) == 2
        run = await run_sipp_client((settings.sip.host, settings.sip.port), "uac_call.xml", tmp_path, calls=4,
                                    rate=4, call_length_ms=1000)
        assert run.returncode == 0, run.log
        answers = [m for m in run.messages if m.direction == "received" and m.first_line.startswith("SIP/2.0 200")
                   and (m.header("CSeq") or "").endswith("INVITE")]
        contacts = {int((m.header("Contact") or "").split(":")[-1].split(";")[0].rstrip(">")) for m in answers}
        assert contacts == ports  # both workers answered calls
        assert sup.health()["status"] == "ok"
    finally:
        await sup.shutdown()
