"""Serve the STB app (or a bare aiohttp handler) on a free loopback port for the bench and the schemathesis test.

    python bench/stb/server.py --data DIR [--bare SIZE] [--rate-limit N]

With the app: creates a SQLite store in DIR, creates any missing tables, imports the sample catalog
(tests/stb/guides_sample.yaml, repeated under extra codes with --items N), registers a box through the admin
API, signs it in, creates one hotline ticket, and prints one JSON line: port, token, admin token, ticket number
and extraction code, a guide code. With --bare SIZE: a handler that returns SIZE bytes of JSON, and prints the
port. Runs until stdin closes (or SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402  (after the path set-up)

from stb_api.signing import TOKEN_PATH, signed_headers  # noqa: E402
from tickets.config import settings_from_mapping  # noqa: E402

SAMPLE = ROOT / "tests" / "stb" / "guides_sample.yaml"
ADMIN = "bench-admin-token"


async def _wait_for_exit() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    eof = asyncio.ensure_future(reader.read())
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({eof, waiter}, return_when=asyncio.FIRST_COMPLETED)
    eof.cancel()
    waiter.cancel()


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001


async def bare(size: int) -> None:
    """``GET|POST /<n>`` answers n bytes of JSON (``/`` answers ``size``): the same-size baseline."""
    bodies: dict[int, bytes] = {}

    async def handler(request: web.Request) -> web.Response:
        tail = request.match_info["tail"]
        n = int(tail) if tail.isdigit() else size
        body = bodies.get(n)
        if body is None:
            body = bodies[n] = json.dumps({"pad": "x" * max(n - 11, 0)}).encode()
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner, port = await _serve(app)
    print(json.dumps({"port": port}), flush=True)
    await _wait_for_exit()
    await runner.cleanup()


async def stb(data: Path, rate_limit: int, items: int) -> None:
    from stb_api.app import create_app
    from tickets.catalog.importer import read_file
    from tickets.enums import Channel, Kind
    from tickets.migrate import upgrade
    from tickets.store import Store
    from tickets.views import Actor, NewTicket

    settings = settings_from_mapping({
        "database": {"url": f"sqlite+aiosqlite:///{data / 'hotline.db'}"},
        "paths": {"data_dir": str(data), "district_file": str(data / "no-district.yaml")},
        "security": {"secret_key": "bench-secret-key-0123456789", "admin_token": ADMIN},
        "stb": {"rate_limit_per_device_per_min": rate_limit, "rate_limit_per_address_per_min": rate_limit},
    }, ROOT, env={})
    await asyncio.to_thread(upgrade, settings)
    store = Store(settings)
    sample = read_file(SAMPLE)
    catalog = list(sample)
    for n in range(items - len(sample)):
        base = sample[n % len(sample)]
        code = base.implementation_code[:-6] + f"{n:06d}"
        catalog.append(dataclasses.replace(base, implementation_code=code, name=f"{base.name}{n}",
                                           popularity_rank=None))
    await store.catalog.import_items(catalog)  # type: ignore[union-attr]
    created = await store.tickets.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP, category="水电气",
                                                   content="bench", caller_phone="13800000000"), Actor("hotline"))
    app = create_app(settings, store)
    runner, port = await _serve(app)
    async with ClientSession(f"http://127.0.0.1:{port}") as http:
        resp = await http.post("/stb/v1/admin/devices", json={"stbid": "BENCHBOX01", "mac": "001122334455"},
                               headers={"Authorization": f"Bearer {ADMIN}"})
        secret = (await resp.json())["secret"]
        resp = await http.post(TOKEN_PATH, headers=signed_headers("BENCHBOX01", secret))
        token = (await resp.json())["token"]
    print(json.dumps({"port": port, "token": token, "admin_token": ADMIN, "stbid": "BENCHBOX01", "secret": secret,
                      "ticket": created.ticket.number, "code": created.extraction_code,
                      "guide": sample[0].implementation_code}), flush=True)
    await _wait_for_exit()
    await runner.cleanup()
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder for the SQLite database (app mode)")
    parser.add_argument("--bare", type=int, help="serve a bare handler returning this many bytes")
    parser.add_argument("--rate-limit", type=int, default=10_000_000, help="per device and per address, a minute")
    parser.add_argument("--items", type=int, default=200, help="catalog size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.bare is not None:
        asyncio.run(bare(args.bare))
    else:
        if args.data is None:
            parser.error("--data is required without --bare")
        args.data.mkdir(parents=True, exist_ok=True)
        asyncio.run(stb(args.data, args.rate_limit, args.items))


if __name__ == "__main__":
    main()
