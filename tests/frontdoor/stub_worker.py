"""A stand-in for ``python -m ivr.worker`` in supervisor tests: prints ``READY <port> <capacity>`` and idles.

SIGHUP appends ``HUP <index>`` to ``--hup-file``; ``--ignore-term`` makes it ignore SIGTERM (to test SIGKILL after
the grace period); ``--fail-index N`` makes worker N print ``FAILED ...`` and exit with code 3; ``--never-ready FILE``
creates FILE and never prints READY.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--public", action="store_true")
    parser.add_argument("--hup-file")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--fail-index", type=int, help="exit with code 3 before READY when --index is this")
    parser.add_argument("--never-ready", help="create this file, then idle without printing READY")
    args = parser.parse_args()

    def on_hup(signum: int, frame: object) -> None:
        if args.hup_file:
            with open(args.hup_file, "a", encoding="utf-8") as f:
                f.write(f"HUP {args.index}\n")

    signal.signal(signal.SIGHUP, on_hup)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"stub worker {args.index} starting (public={args.public})", flush=True)
    if args.fail_index == args.index:
        print("FAILED stub told to fail", flush=True)
        return 3
    if args.never_ready:
        Path(args.never_ready).touch()
        while True:
            signal.pause()
    print(f"READY {args.port} {args.capacity}", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
