"""``hotline stb add|list|revoke``: manage registered set-top boxes from the shell."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from stb_api.devices import DeviceRegistry, parse_new_device
from stb_api.errors import DeviceError
from tickets.config import Settings
from tickets.store import Store

__all__ = ["register"]


def register(subparsers: Any) -> None:
    stb = subparsers.add_parser("stb", help="set-top boxes of the TV-government service")
    sub = stb.add_subparsers(dest="stb_command", required=True, metavar="ACTION")
    p = sub.add_parser("add", help="register a box and print its secret (shown once)")
    p.add_argument("--stbid", required=True)
    p.add_argument("--mac", required=True)
    p.add_argument("--ca", dest="ca_serial", help="CA card serial number (cable boxes)")
    p.add_argument("--town", dest="town_code", help="town/street code")
    p.set_defaults(handler=_add)
    p = sub.add_parser("list", help="list registered boxes")
    p.add_argument("--active", action="store_true", help="hide revoked boxes")
    p.set_defaults(handler=_list)
    p = sub.add_parser("revoke", help="revoke a box: it can no longer sign in, its tokens stop working")
    p.add_argument("stbid")
    p.set_defaults(handler=_revoke)


async def _with_registry(settings: Settings, work: Any) -> int:
    store = Store(settings)
    try:
        return int(await work(DeviceRegistry(store.sessions, settings.security.secret_key)))
    except DeviceError as exc:
        print(f"hotline stb: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def _add(args: argparse.Namespace, settings: Settings) -> int:
    async def work(registry: DeviceRegistry) -> int:
        new = parse_new_device(args.stbid, args.mac, args.ca_serial, args.town_code)
        device, secret = await registry.register(new, by="cli")
        print(f"registered {device.stbid} (MAC {device.mac})")
        print(f"device secret (shown once, put it in the box's configuration): {secret}")
        return 0
    return asyncio.run(_with_registry(settings, work))


def _list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(registry: DeviceRegistry) -> int:
        for d in await registry.list(include_revoked=not args.active):
            state = f"revoked {d.revoked_at:%Y-%m-%d %H:%M}" if d.revoked_at else "active"
            print(f"{d.stbid}\t{d.mac}\t{d.ca_serial or '-'}\t{d.town_code or '-'}\t{state}")
        return 0
    return asyncio.run(_with_registry(settings, work))


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def work(registry: DeviceRegistry) -> int:
        device = await registry.revoke(args.stbid, by="cli")
        print(f"revoked {device.stbid}")
        return 0
    return asyncio.run(_with_registry(settings, work))
