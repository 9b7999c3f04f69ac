"""Helpers for the real-SIP worker tests: free ports, a worker process with the demo flow, the pjsua2 caller
process, raw SIP over UDP/TCP, WAV loudness."""

from __future__ import annotations

import array
import dataclasses
import json
import math
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CALLER = Path(__file__).with_name("caller.py")
PYTHON = sys.executable


def free_sip_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free SIP port")


def rtp_base() -> int:
    """A random even RTP range start; pjsua moves on within the range when a port is taken."""
    return random.randrange(30000, 60000, 64)


def wav_rms(path: Path, start_s: float = 0.0, end_s: float | None = None) -> float:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    samples = array.array("h", data)
    lo = int(start_s * rate)
    hi = len(samples) if end_s is None else int(end_s * rate)
    part = samples[lo:hi]
    return math.sqrt(sum(s * s for s in part) / len(part)) if part else 0.0


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def make_tone(path: Path, seconds: float = 2.0, freq: int = 440) -> Path:
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine",
                    str(freq), "vol", "0.5"], check=True, capture_output=True)
    return path


@dataclasses.dataclass
class WorkerProcess:
    proc: subprocess.Popen[str]
    port: int
    capacity: int
    rtp_start: int
    log_path: Path
    config_path: Path
    run_dir: Path

    @property
    def target(self) -> str:
        return f"sip:96536@127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, needle: str, timeout_s: float = 20.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log()
            if needle in text:
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not in the worker log:\n{self.log()[-4000:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"worker did not stop on SIGTERM:\n{self.log()[-3000:]}") from None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def write_config(folder: Path, sip: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    data: dict[str, Any] = {
        "paths": {
            "data_dir": str(folder),
            "recordings_dir": str(folder / "recordings"),
            "prompt_cache_dir": str(PROJECT_ROOT / "var" / "test-prompts"),
            "run_dir": str(folder / "run"),
        },
        "ivr": {"no_input_timeout_s": 4, "inter_digit_timeout_s": 2, "recording_max_s": 20,
                "recording_silence_s": 3},
        "sip": sip,
    }
    for key, value in (extra or {}).items():
        data.setdefault(key, {}).update(value)
    path = folder / f"worker-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def start_worker(folder: Path, *, sip: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                 index: int = 0, public: bool = False, ready_timeout_s: float = 60.0,
                 script: Path | None = None) -> WorkerProcess:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_sip_port()
    rtp = rtp_base()
    sip_cfg: dict[str, Any] = {"worker_base_port": port - index, "rtp_port_start": rtp - index * 64,
                               "rtp_ports_per_worker": 64, "host": "127.0.0.1", "port": port}
    sip_cfg.update(sip or {})
    config = write_config(folder, sip_cfg, extra)
    log_path = folder / f"worker-{port}.log"
    argv = [PYTHON, "-m", "ivr.worker", "--config", str(config), "--index", str(index), "--demo"]
    if script is not None:
        argv = [PYTHON, str(script), "--config", str(config)]
    if public:
        argv.append("--public")
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                                start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + ready_timeout_s
    line = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(("READY", "FAILED")) or not line:
                break
        elif proc.poll() is not None:
            break
    if not line.startswith("READY"):
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"worker not ready ({line.strip()!r}):\n{log_path.read_text()[-3000:]}")
    _, sip_port, capacity = line.split()
    return WorkerProcess(proc=proc, port=int(sip_port), capacity=int(capacity), rtp_start=rtp, log_path=log_path,
                         config_path=config, run_dir=folder / "run")


def run_caller(target: str, *steps: str, calls: int = 1, record_dir: Path | None = None,
               headers: tuple[str, ...] = (), transport: str = "udp", codecs: str = "PCMA,PCMU,G722",
               timeout_s: float = 40.0, from_user: str = "13800138000",
               cancel_after_s: float | None = None) -> list[dict[str, Any]]:
    argv = [PYTHON, str(CALLER), "--target", target, "--calls", str(calls), "--transport", transport,
            "--codecs", codecs, "--timeout", str(timeout_s), "--from-user", from_user]
    if record_dir is not None:
        argv += ["--record-dir", str(record_dir)]
    if cancel_after_s is not None:
        argv += ["--cancel-after", str(cancel_after_s)]
    for step in steps:
        argv += ["--step", step]
    for header in headers:
        argv += ["--header", header]
    proc = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout_s + 30)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert proc.returncode == 0 and lines, f"caller failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1])


def sip_request(method: str, port: int, *, body: str = "", extra: str = "", call_id: str | None = None,
                local_port: int = 0) -> bytes:
    call_id = call_id or uuid.uuid4().hex
    branch = "z9hG4bK" + uuid.uuid4().hex[:10]
    head = (f"{method} sip:96536@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:13900001111@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:96536@127.0.0.1:{port}>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: 1 {method}\r\n"
            f"Contact: <sip:13900001111@127.0.0.1:{local_port}>\r\n"
            f"{extra}")
    if body:
        head += "Content-Type: application/sdp\r\n"
    head += f"Content-Length: {len(body.encode())}\r\n\r\n"
    return (head + body).encode()


def sdp_offer(rtp_port: int, payloads: str, rtpmaps: str) -> str:
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP {payloads}\r\n{rtpmaps}")


class UdpPeer:
    """A raw SIP peer on a UDP socket."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def responses(self, timeout_s: float = 3.0, until_final: bool = True, call_id: str | None = None) -> list[str]:
        """Messages received within ``timeout_s`` (only those of ``call_id`` when given)."""
        deadline = time.monotonic() + timeout_s
        got: list[str] = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            data, _ = self.sock.recvfrom(65535)
            text = data.decode(errors="replace")
            if call_id is not None and f"Call-ID: {call_id}" not in text:
                continue
            got.append(text)
            code = status_code(text)
            if until_final and code is not None and code >= 200:
                break
        return got

    def close(self) -> None:
        self.sock.close()


def status_code(message: str) -> int | None:
    first = message.split("\r\n", 1)[0]
    if first.startswith("SIP/2.0 "):
        try:
            return int(first.split()[1])
        except (IndexError, ValueError):
            return None
    return None


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
