"""The ``hotline`` console command. Each package contributes its subcommands through a ``register`` function
that adds subparsers whose handler is ``handler(args, settings) -> int``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from tickets.config import ConfigError, load_settings

__all__ = ["main"]

# Modules with a ``register(subparsers)`` function, in the order their commands are listed.
_COMMAND_MODULES = (
    "ivr.serve_cli",
    "ivr.prompts_cli",
    "tickets.cli",
    "tickets.catalog.cli",
    "stb_api.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="96536 hotline, TV-government service and ticket store")
    parser.add_argument("--config", help="configuration file (default: $HOTLINE_CONFIG or ./config.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"hotline: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(logging, settings.logging.level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.handler(args, settings) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
