"""Real calls over loopback into ``python -m ivr.worker --demo`` from a pjsua2 caller process and sipp."""

from __future__ import annotations

import json
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sip.harness import (
    PROJECT_ROOT,
    WorkerProcess,
    free_sip_port,
    proc_cpu_s,
    run_caller,
    wav_rms,
    wav_seconds,
)

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def _demo_lines(worker: WorkerProcess, what: str) -> list[str]:
    return re.findall(rf"DEMO \S+ {what}=(\S+)", worker.log())


def test_call_rfc4733_and_info_digits_prompt_and_recording(worker: WorkerProcess, tone: Path, tmp_path: Path) -> None:
    results = run_caller(
        worker.target,
        "wait_audio", "sleep:1", "dtmf:12", "sleep:0.5", "info:3#",  # barge-in by RFC 4733, the rest by INFO
        "wait_silence:0.8", f"play:{tone}", "dtmf:#",  # after the beep: speak (a tone), end with #
        "wait_audio", "wait_silence:1",
        record_dir=tmp_path / "heard",
        headers=("P-Asserted-Identity: <sip:13812345678@127.0.0.1>",),
    )
    (result,) = results
    assert result["answered"] and result["status"] == 200 and not result["errors"], result
    assert result["ended_by"] == "remote"  # the demo hangs up after its goodbye
    heard = Path(result["recording"])
    assert wav_rms(heard, 0.0, 1.0) > 500, "the greeting is silence"
    log = worker.wait_log("ended_by=")
    assert _demo_lines(worker, "digits") == ["123"]
    # 1, 2 and the final # by RFC 4733; 3 and # by SIP INFO
    assert log.count("key received (rfc4733)") == 3 and log.count("key received (info)") == 2
    # P-Asserted-Identity from the trusted loopback trunk, masked in the log
    assert "caller=138****5678 trusted=True" in log
    assert "13812345678" not in log
    (saved,) = _demo_lines(worker, "recording")
    assert "ended_by=key" in log
    assert wav_seconds(Path(saved)) > 1.5
    assert wav_rms(Path(saved)) > 1000, "the caller's tone did not reach the recording"


def test_untrusted_caller_uses_from_user(worker_factory: Callable[..., WorkerProcess]) -> None:
    # On the public port (no Kamailio) only configured trunks may assert an identity; there are none here.
    worker = worker_factory(sip={"trunks": []}, public=True)
    (result,) = run_caller(worker.target, "wait_audio", "hangup", from_user="13900001234",
                           headers=("P-Asserted-Identity: <sip:13812345678@127.0.0.1>",))
    assert result["answered"], result
    log = worker.wait_log("caller=")
    assert "caller=139****1234 trusted=False" in log


def test_tcp_transport_call(worker: WorkerProcess) -> None:
    (result,) = run_caller(worker.target + ";transport=tcp", "wait_audio", "dtmf:7#", "sleep:0.5", "hangup",
                           transport="tcp")
    assert result["answered"] and not result["errors"], result
    worker.wait_log("digits=7")


def test_full_worker_answers_capacity_and_refuses_next_with_503(worker: WorkerProcess) -> None:
    facts = json.loads((worker.run_dir / "worker-0.json").read_text())
    assert facts["library_cap"] == 4  # the wheel's PJSUA_MAX_CALLS, read from the running library
    assert worker.capacity == 3  # one pjsua slot kept to refuse with 503
    results = run_caller(worker.target, "wait_audio", "sleep:2", "hangup", calls=4)
    answered = [r for r in results if r["answered"]]
    refused = [r for r in results if not r["answered"]]
    assert len(answered) == 3, results
    assert [(r["status"], r["retry_after"]) for r in refused] == [(503, "30")]
    assert all(not r["errors"] for r in answered), answered
    # the slots come back: a new call is answered afterwards
    (again,) = run_caller(worker.target, "wait_audio", "hangup")
    assert again["answered"], again


def test_max_calls_per_worker_lowers_capacity(worker_factory: Callable[..., WorkerProcess]) -> None:
    worker = worker_factory(sip={"max_calls_per_worker": 1, "retry_after_s": 7})
    assert worker.capacity == 1
    results = run_caller(worker.target, "wait_audio", "sleep:1", "hangup", calls=2)
    assert sorted((r["status"], r["retry_after"]) for r in results) == [(200, None), (503, "7")]


def test_hangup_mid_prompt(worker: WorkerProcess) -> None:
    (result,) = run_caller(worker.target, "wait_audio", "sleep:0.3", "hangup")
    assert result["answered"] and result["ended_by"] == "local"
    log = worker.wait_log("finished")
    assert "caller hung up" in log
    assert "Traceback" not in log
    (again,) = run_caller(worker.target, "wait_audio", "hangup")
    assert again["answered"], "the worker did not survive a hang-up mid-prompt"


def test_hangup_mid_recording_keeps_a_valid_file(worker: WorkerProcess, tone: Path) -> None:
    (result,) = run_caller(worker.target, "wait_audio", "dtmf:5#", "wait_silence:0.8", f"play:{tone}", "hangup")
    assert result["answered"] and not result["errors"], result
    log = worker.wait_log("ended_by=")
    assert "ended_by=hangup" in log
    (saved,) = _demo_lines(worker, "recording")
    assert 1.0 < wav_seconds(Path(saved)) < 4.0
    assert wav_rms(Path(saved)) > 1000
    worker.wait_log("finished")
    assert "Traceback" not in worker.log()


def test_sigterm_with_a_call_up_hangs_up_and_exits_cleanly(worker: WorkerProcess) -> None:
    caller = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "tests/sip/caller.py"),
         "--target", worker.target, "--step", "wait_audio", "--step", "sleep:30", "--timeout", "40"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        worker.wait_log("trusted=")  # the handler runs: the greeting is playing
        assert worker.stop() == 0
        out, _ = caller.communicate(timeout=20)
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait(5)
    (result,) = json.loads([line for line in out.splitlines() if line.startswith("[")][-1])
    assert result["answered"] and result["ended_by"] == "remote"
    log = worker.log()
    assert "stopped (answered 1" in log and "Traceback" not in log
    assert not (worker.run_dir / "worker-0.json").exists()


def test_sighup_calls_reload_and_keeps_running(worker: WorkerProcess) -> None:
    worker.proc.send_signal(signal.SIGHUP)
    worker.wait_log("SIGHUP")
    (result,) = run_caller(worker.target, "wait_audio", "hangup")
    assert result["answered"]


SIPP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="dtmf pcap">
  <send retrans="500">
    <![CDATA[
      INVITE sip:96536@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13700001111@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:96536@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:96536@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13700001111@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:96536@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="1500"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"/></action></nop>
  <pause milliseconds="3500"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:96536@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13700001111@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:96536@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (Debian sip-tester) is not installed")
def test_sipp_rfc4733_pcap_reaches_the_flow(worker: WorkerProcess, tmp_path: Path) -> None:
    scenario = tmp_path / "dtmf.xml"
    scenario.write_text(SIPP_SCENARIO, encoding="utf-8")
    proc = subprocess.run(
        ["sipp", "127.0.0.1:%d" % worker.port, "-sf", str(scenario), "-i", "127.0.0.1", "-p", "0",
         "-mi", "127.0.0.1", "-mp", str(free_sip_port()), "-m", "1", "-timeout", "20s",
         "-timeout_error", "-nostdin", "-trace_err", "-error_file", str(tmp_path / "sipp.err")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    log = worker.wait_log("digits=1")  # the pcap's key 1, then the inter-digit timeout
    assert "key received (rfc4733)" in log
    assert "caller=137****1111" in log


def test_cpu_per_call(worker: WorkerProcess, tone: Path) -> None:
    """Three calls (the capacity), each hearing the greeting while sending a tone: CPU of the worker per call."""
    before = proc_cpu_s(worker.proc.pid)
    t0 = time.monotonic()
    results = run_caller(worker.target, "wait_audio", "sleep:6", "hangup", calls=3)
    wall = time.monotonic() - t0
    used = proc_cpu_s(worker.proc.pid) - before
    assert all(r["answered"] for r in results), results
    per_call = used / wall / 3
    print(f"worker CPU: {used:.2f} s over {wall:.1f} s with 3 calls = {100 * per_call:.1f}% of a core per call")
    assert per_call < 0.15


def _start_agent(port: int, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "tests/sip/caller.py"), "--listen", str(port), "--timeout", "40",
         "--record-dir", str(tmp_path / "agent"), *args],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # polling an external process for its LISTENING line
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready and proc.stdout.readline().startswith("LISTENING"):
            return proc
    proc.kill()
    proc.wait(5)
    raise AssertionError("agent did not start")


def _agent_result(proc: subprocess.Popen[str]) -> dict:
    try:
        out, _ = proc.communicate(timeout=45)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return json.loads([line for line in out.splitlines() if line.startswith("[")][-1])[0]


def test_transfer_bridges_caller_and_agent(worker_factory: Callable[..., WorkerProcess], tone: Path,
                                           tmp_path: Path) -> None:
    agent_port = free_sip_port()
    worker = worker_factory(extra={"agents": {"group_uri": f"sip:agents@127.0.0.1:{agent_port}",
                                              "no_answer_timeout_s": 10}})
    agent = _start_agent(agent_port, tmp_path, "--answer-after", "0.5", "--step", "sleep:0.5",
                         "--step", f"play:{tone}", "--step", "sleep:0.5", "--step", "hangup")
    try:
        (caller,) = run_caller(worker.target, "wait_audio", "dtmf:0#", "sleep:1", f"play:{tone}", "sleep:3",
                               record_dir=tmp_path / "caller", timeout_s=25)
    finally:
        agent_out = _agent_result(agent)
    assert agent_out["answered"] and not agent_out["errors"], agent_out
    assert caller["answered"] and caller["ended_by"] == "remote", caller  # the agent's BYE ends the caller too
    log = worker.wait_log("transfer=True")
    assert "bridged" in log
    assert caller["step_times"][2] > 0
    heard = Path(caller["recording"])
    # the caller hears the agent's tone after the transfer, the agent hears the caller's tone
    assert wav_rms(heard, caller["step_times"][1] + 0.5, None) > 1000
    assert wav_rms(Path(agent_out["recording"])) > 500
    worker.wait_log("finished")
    assert "Traceback" not in worker.log()


def test_transfer_without_answer_returns_false(worker_factory: Callable[..., WorkerProcess], tmp_path: Path) -> None:
    agent_port = free_sip_port()
    worker = worker_factory(extra={"agents": {"group_uri": f"sip:agents@127.0.0.1:{agent_port}",
                                              "no_answer_timeout_s": 2}})
    agent = _start_agent(agent_port, tmp_path, "--no-answer")
    try:
        (caller,) = run_caller(worker.target, "wait_audio", "dtmf:0#", "sleep:4", "hangup", timeout_s=25)
    finally:
        agent_out = _agent_result(agent)
    assert caller["answered"]
    assert not agent_out["answered"] and agent_out["status"] == 487, agent_out  # the worker cancelled the ring
    worker.wait_log("transfer=False")


def test_accepts_are_paced(worker_factory: Callable[..., WorkerProcess]) -> None:
    worker = worker_factory(sip={"accept_calls_per_s": 2.5})
    results = run_caller(worker.target, "wait_audio", "sleep:0.5", "hangup", calls=3)
    times = sorted(r["answered_at"] for r in results if r["answered"])
    assert len(times) == 3, results
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) > 0.3, gaps  # 1 / 2.5 s = 0.4 s apart


def test_churn_of_hangups_at_random_moments(worker: WorkerProcess) -> None:
    """Rounds of three calls hanging up at different moments (ringing/prompt/collect/readback): the pjsua call ids
    are reused round-robin, so this also checks that a finished call's object never touches the next one."""
    plans = [("sleep:0.05", "hangup"), ("wait_audio", "hangup"), ("wait_audio", "dtmf:1", "sleep:0.3", "hangup"),
             ("wait_audio", "dtmf:12#", "sleep:0.4", "hangup")]
    answered = 0
    for steps in plans:
        results = run_caller(worker.target, *steps, calls=3, timeout_s=20)
        answered += sum(r["answered"] for r in results)
        assert all(r["status"] in (200, 0) or r["answered"] for r in results), results
    assert answered >= 9
    assert worker.alive()
    (last,) = run_caller(worker.target, "wait_audio", "dtmf:5#", "sleep:0.5", "hangup")
    assert last["answered"] and not last["errors"]
    worker.wait_log("digits=5")
    assert "Traceback" not in worker.log() and "callback" not in worker.log()


def test_caller_cancels_while_ringing(worker_factory: Callable[..., WorkerProcess]) -> None:
    """With slow pacing the second and third calls are still ringing when their callers give up (CANCEL)."""
    worker = worker_factory(sip={"accept_calls_per_s": 0.5})
    results = run_caller(worker.target, "wait_audio", "sleep:1", "hangup", calls=3, cancel_after_s=0.8)
    assert sorted(r["answered"] for r in results) == [False, False, True], results
    assert all(r["status"] == 487 for r in results if not r["answered"]), results
    log = worker.wait_log("finished")
    assert "Traceback" not in log and "cannot answer" not in log
    (again,) = run_caller(worker.target, "wait_audio", "hangup")
    assert again["answered"]


def test_transfer_by_refer(worker_factory: Callable[..., WorkerProcess], tmp_path: Path) -> None:
    agent_port = free_sip_port()
    worker = worker_factory(extra={"agents": {"group_uri": f"sip:agents@127.0.0.1:{agent_port}",
                                              "transfer_mode": "refer", "no_answer_timeout_s": 10}})
    agent = _start_agent(agent_port, tmp_path, "--answer-after", "0.3", "--step", "sleep:1.5", "--step", "hangup")
    try:
        (caller,) = run_caller(worker.target, "wait_audio", "dtmf:0#", "sleep:3", timeout_s=20)
    finally:
        agent_out = _agent_result(agent)
    assert caller["answered"] and caller["transfer_answered"], caller
    assert agent_out["answered"], agent_out
    log = worker.wait_log("transfer=True")
    assert "finished" in worker.wait_log("finished")
    assert "Traceback" not in log


def test_public_mode_listens_on_sip_port(worker_factory: Callable[..., WorkerProcess]) -> None:
    worker = worker_factory(public=True, index=2)
    facts = json.loads((worker.run_dir / "worker-2.json").read_text())
    assert facts["sip_port"] == worker.port and facts["index"] == 2
    (result,) = run_caller(worker.target, "wait_audio", "hangup")
    assert result["answered"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_tls_transport_call(worker_factory: Callable[..., WorkerProcess], tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days",
                    "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls_port = free_sip_port()
    worker = worker_factory(sip={"tls": {"enabled": True, "port": tls_port, "cert_file": str(cert),
                                         "key_file": str(key)}})
    facts = json.loads((worker.run_dir / "worker-0.json").read_text())
    assert facts["transports"] == ["udp", "tcp", "tls"]
    (result,) = run_caller(f"sip:96536@127.0.0.1:{tls_port};transport=tls", "wait_audio", "dtmf:8#", "sleep:0.5",
                           "hangup", transport="tls")
    assert result["answered"] and not result["errors"], result
    worker.wait_log("digits=8")
