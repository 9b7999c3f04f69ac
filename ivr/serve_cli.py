"""``hotline serve``: the whole hotline (workers, Kamailio, web app) under one supervisor."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import sys
from typing import Any

from ivr.frontdoor import FrontDoorError
from ivr.supervisor import Supervisor, WorkerCommand
from tickets.config import Settings

__all__ = ["register", "worker_command_from_template"]

LOG = logging.getLogger(__name__)


def worker_command_from_template(template: str, settings: Settings) -> WorkerCommand:
    """A worker command from a shell-like template with ``{index}``, ``{public}`` (``--public`` or nothing),
    ``{port}`` (the SIP port the worker should bind), ``{config}`` and ``{python}``."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise FrontDoorError(f"--worker-command: {exc}") from exc
    if not words:
        raise FrontDoorError("--worker-command: empty command")
    sip = settings.sip

    def command(index: int, public: bool) -> list[str]:
        values = {
            "index": str(index),
            "public": "--public" if public else "",
            "port": str(sip.port if public else sip.worker_base_port + index),
            "config": str(settings.source or ""),
            "python": sys.executable,
        }
        try:
            argv = [word.format(**values) for word in words]
        except (KeyError, IndexError) as exc:
            raise FrontDoorError(f"--worker-command: unknown placeholder {exc}") from exc
        return [word for word in argv if word]

    command(0, False)  # fail now on a bad placeholder
    return command


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    try:
        worker_command = (worker_command_from_template(args.worker_command, settings)
                          if args.worker_command else None)
        supervisor = Supervisor(
            settings,
            worker_command=worker_command,
            use_kamailio=False if args.no_kamailio else None,
            grace_s=args.grace,
            ready_timeout_s=settings.sip.worker_ready_timeout_s,
        )
        return asyncio.run(supervisor.run())
    except FrontDoorError as exc:
        LOG.error("hotline serve: %s", exc)
        print(f"hotline serve: {exc}", file=sys.stderr)
        return 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the hotline: call workers, Kamailio in front of them, and the web app",
        description="Run the SIP hotline (pjsua2 workers behind Kamailio when it is installed) and the web app "
                    "until SIGTERM/SIGINT. SIGHUP makes the workers reload the menus.",
    )
    parser.add_argument("--no-kamailio", action="store_true",
                        help="run one worker on the public SIP address even when Kamailio is installed")
    parser.add_argument("--grace", type=float, default=5.0, metavar="SECONDS",
                        help="how long a child may take to stop after SIGTERM before SIGKILL (default 5)")
    parser.add_argument("--worker-command", metavar="TEMPLATE",
                        help="worker command line instead of 'python -m ivr.worker'; placeholders {index}, "
                             "{public}, {port}, {config}, {python}")
    parser.set_defaults(handler=_handle)
