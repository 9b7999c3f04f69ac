"""STB API benchmark: requests per second and p99 latency of guide list, guide detail and progress at 50 and 200
concurrent connections, each beside a bare aiohttp handler returning a response of the same size, in one run.

    .venv/bin/python bench/stb/run.py [--duration-s 3] [--connections 50,200]

Both servers run in their own process (bench/stb/server.py, one event loop each, access log off) on loopback;
the load comes from wrk (Debian package ``wrk``) with 2 threads. The aim: catalog reads at least 50% of the
bare handler's requests per second, p99 under 50 ms at 200 connections. On a 2-core machine the load generator
shares the cores with the server, so absolute numbers are lower than on a separate client.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.py"


def _start(args: list[str]) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, str(SERVER), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise SystemExit(f"bench server {args} exited with {proc.returncode}")
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _fetch(url: str, headers: dict[str, str], body: bytes | None) -> bytes:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310  (loopback URL built here)
        return resp.read()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"cannot read a wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, connections: int, duration_s: int, headers: dict[str, str], body: bytes | None,
        script_dir: Path) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration_s}s", "--latency", "--timeout", "5s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if body is not None:
        script = script_dir / "post.lua"
        script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
                          'wrk.headers["Content-Type"] = "application/json"\n', encoding="utf-8")
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p99_ms": p99, "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=int, default=3)
    parser.add_argument("--connections", default="50,200")
    parser.add_argument("--items", type=int, default=200, help="catalog size")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/stb: wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2
    conns = [int(c) for c in args.connections.split(",")]
    with tempfile.TemporaryDirectory(prefix="stb-bench-") as tmp:
        app_proc, info = _start(["--data", tmp, "--items", str(args.items)])
        bare_proc, bare = _start(["--bare", "1000"])
        try:
            base = f"http://127.0.0.1:{info['port']}"
            auth = {"Authorization": f"Bearer {info['token']}"}
            progress_body = json.dumps({"number": info["ticket"], "code": info["code"]}).encode()
            targets = [
                ("guide list", f"{base}/stb/v1/guides?theme=personal&page=1&page_size=20", None),
                ("guide detail", f"{base}/stb/v1/guides/{info['guide']}", None),
                ("progress", f"{base}/stb/v1/progress", progress_body),
            ]
            rows = []
            for name, url, body in targets:
                size = len(_fetch(url, {**auth, "Content-Type": "application/json"}, body))
                bare_url = f"http://127.0.0.1:{bare['port']}/{size}"
                for c in conns:
                    wrk(url, c, 1, auth, body, Path(tmp))  # warm-up
                    app = wrk(url, c, args.duration_s, auth, body, Path(tmp))
                    ref = wrk(bare_url, c, args.duration_s, {}, body, Path(tmp))
                    rows.append((name, size, c, app, ref))
        finally:
            _stop(app_proc)
            _stop(bare_proc)
    print(f"{'endpoint':<14}{'bytes':>7}{'conns':>7}{'rps':>10}{'p99 ms':>9}{'bare rps':>10}{'bare p99':>10}"
          f"{'ratio':>8}  errors")
    for name, size, c, app, ref in rows:
        ratio = app["rps"] / ref["rps"] if ref["rps"] else 0.0
        errors = "" if not (app["non2xx"] or app["socket_errors"]) else f"non-2xx {app['non2xx']:.0f}"
        print(f"{name:<14}{size:>7}{c:>7}{app['rps']:>10.0f}{app['p99_ms']:>9.1f}{ref['rps']:>10.0f}"
              f"{ref['p99_ms']:>10.1f}{ratio:>8.0%}  {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
