"""Ticket creation and look-up by number per second through the store, beside the raw driver doing the same
inserts and selects, on SQLite and PostgreSQL, in one run. Prints the ratios.

    .venv/bin/python bench/store/run.py [--tickets 2000] [--lookups 4000] [--skip-postgres]

Aim (issue 2): creation at least 50% of the raw driver, look-ups at least 60%.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiosqlite  # noqa: E402  (after the path set-up above)
import asyncpg  # noqa: E402

from tickets.config import Settings, settings_from_mapping  # noqa: E402
from tickets.enums import Channel, Kind  # noqa: E402
from tickets.migrate import upgrade  # noqa: E402
from tickets.numbers import format_ticket_number, hash_extraction_code, new_extraction_code  # noqa: E402
from tickets.store import Store  # noqa: E402
from tickets.views import Actor, NewTicket  # noqa: E402

INSERT_TICKET = (
    "INSERT INTO tickets (number, code_salt, code_hash, channel, kind, category, caller_phone, content, status, "
    "escalated, needs_callback, deadline, created_at, updated_at) "
    "VALUES ({p}) RETURNING id"
)
INSERT_EVENT = (
    "INSERT INTO ticket_events (ticket_id, at, actor, action, to_status, note, public) VALUES ({p})"
)
UPSERT_SEQ = ("INSERT INTO ticket_sequences (day, last) VALUES ({p}) ON CONFLICT (day) DO UPDATE "
              "SET last = ticket_sequences.last + 1 RETURNING last")
SELECT_DUP = ("SELECT id, number FROM tickets WHERE caller_phone = {p1} AND category = {p2} AND created_at >= {p3} "
              "AND status NOT IN ('merged', 'closed') ORDER BY created_at DESC, id DESC LIMIT 1")
SELECT_TICKET = (
    "SELECT t.*, d.name, d.code FROM tickets t LEFT JOIN departments d ON d.id = t.lead_department_id "
    "WHERE t.number = {p}"
)
SELECT_ASSIST = ("SELECT d.name FROM ticket_assisting_departments a JOIN departments d ON d.id = a.department_id "
                 "WHERE a.ticket_id = {p}")


def _params(n: int, style: str) -> str:
    return ", ".join("?" if style == "qmark" else f"${i + 1}" for i in range(n))


def _row(day: dt.date, serial: int, now: dt.datetime) -> tuple:
    salt, digest = hash_extraction_code(new_extraction_code())
    return (format_ticket_number(day, serial), salt, digest, "hotline", "complaint", "噪音", "13812345678",
            "小区夜间施工噪音扰民", "registered", False, False, day + dt.timedelta(days=21), now, now)


async def raw_sqlite(path: str, tickets: int, lookups: int) -> tuple[float, float]:
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("PRAGMA foreign_keys=ON")
    day = dt.date(2030, 1, 1)
    numbers = []
    start = time.perf_counter()
    for _ in range(tickets):
        now = dt.datetime.now(dt.UTC)
        await db.execute("BEGIN IMMEDIATE")
        cur = await db.execute(UPSERT_SEQ.format(p=_params(2, "qmark")), (f"{day:%y%m%d}", 1))
        serial = (await cur.fetchone())[0]
        await (await db.execute(SELECT_DUP.format(p1="?", p2="?", p3="?"),
                                ("13812345678", "噪音", (now - dt.timedelta(hours=72)).isoformat()))).fetchone()
        row = _row(day, serial, now)
        cur = await db.execute(INSERT_TICKET.format(p=_params(14, "qmark")),
                               row[:-2] + (now.isoformat(), now.isoformat()))
        ticket_id = (await cur.fetchone())[0]
        await db.execute(INSERT_EVENT.format(p=_params(7, "qmark")),
                         (ticket_id, now.isoformat(), "hotline", "created", "registered", "", True))
        await db.execute("COMMIT")
        numbers.append(row[0])
    create_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(lookups):
        cur = await db.execute(SELECT_TICKET.format(p="?"), (numbers[i % len(numbers)],))
        row = await cur.fetchone()
        await (await db.execute(SELECT_ASSIST.format(p="?"), (row[0],))).fetchall()
    lookup_s = time.perf_counter() - start
    await db.close()
    return tickets / create_s, lookups / lookup_s


async def raw_postgres(dsn: str, tickets: int, lookups: int) -> tuple[float, float]:
    conn = await asyncpg.connect(dsn)
    day = dt.date(2030, 1, 1)
    numbers = []
    start = time.perf_counter()
    for _ in range(tickets):
        now = dt.datetime.now(dt.UTC)
        async with conn.transaction():
            serial = await conn.fetchval(UPSERT_SEQ.format(p=_params(2, "numeric")), f"{day:%y%m%d}", 1)
            await conn.fetchrow(SELECT_DUP.format(p1="$1", p2="$2", p3="$3"), "13812345678", "噪音",
                                now - dt.timedelta(hours=72))
            row = _row(day, serial, now)
            ticket_id = await conn.fetchval(INSERT_TICKET.format(p=_params(14, "numeric")), *row)
            await conn.execute(INSERT_EVENT.format(p=_params(7, "numeric")), ticket_id, now, "hotline", "created",
                               "registered", "", True)
        numbers.append(row[0])
    create_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(lookups):
        row = await conn.fetchrow(SELECT_TICKET.format(p="$1"), numbers[i % len(numbers)])
        await conn.fetch(SELECT_ASSIST.format(p="$1"), row["id"])
    lookup_s = time.perf_counter() - start
    await conn.close()
    return tickets / create_s, lookups / lookup_s


async def through_store(settings: Settings, tickets: int, lookups: int) -> tuple[float, float]:
    store = Store(settings)
    numbers = []
    actor = Actor("hotline")
    new = NewTicket(channel=Channel.HOTLINE, kind=Kind.COMPLAINT, category="噪音", caller_phone="13812345678",
                    content="小区夜间施工噪音扰民")
    try:
        start = time.perf_counter()
        for _ in range(tickets):
            numbers.append((await store.tickets.create(new, actor)).ticket.number)
        create_s = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(lookups):
            await store.tickets.get(numbers[i % len(numbers)])
        lookup_s = time.perf_counter() - start
    finally:
        await store.close()
    return tickets / create_s, lookups / lookup_s


def _settings(url: str) -> Settings:
    return settings_from_mapping({"database": {"url": url}}, ROOT, env={})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=4000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        raw_path, orm_path = os.path.join(tmp, "raw.db"), os.path.join(tmp, "orm.db")
        for path in (raw_path, orm_path):
            upgrade(_settings(f"sqlite+aiosqlite:///{path}"))
        raw = await raw_sqlite(raw_path, args.tickets, args.lookups)
        orm = await through_store(_settings(f"sqlite+aiosqlite:///{orm_path}"), args.tickets, args.lookups)
        results.append(("sqlite", raw, orm))
    if not args.skip_postgres:
        sys.path.insert(0, str(ROOT))
        from tests import pgutil

        with pgutil.temporary_database() as raw_db, pgutil.temporary_database() as orm_db:
            for name in (raw_db, orm_db):
                upgrade(_settings(pgutil.url_for(name)))
            dsn = pgutil.url_for(raw_db).replace("postgresql+asyncpg", "postgresql")
            raw = await raw_postgres(dsn, args.tickets, args.lookups)
            orm = await through_store(_settings(pgutil.url_for(orm_db)), args.tickets, args.lookups)
            results.append(("postgresql", raw, orm))
    print(f"{'database':<11} {'op':<8} {'raw/s':>9} {'store/s':>9} {'ratio':>6}  aim")
    for name, raw, orm in results:
        for i, (op, aim) in enumerate((("create", 0.5), ("lookup", 0.6))):
            ratio = orm[i] / raw[i]
            print(f"{name:<11} {op:<8} {raw[i]:>9.0f} {orm[i]:>9.0f} {ratio:>6.2f}  >= {aim:.2f} "
                  f"{'ok' if ratio >= aim else 'BELOW AIM'}")


if __name__ == "__main__":
    asyncio.run(main())
