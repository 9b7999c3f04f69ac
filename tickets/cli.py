"""``hotline db``, ``hotline calendar``, ``hotline departments`` and ``hotline users`` subcommands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

import yaml

from tickets.config import Settings
from tickets.enums import Role
from tickets.errors import StoreError
from tickets.workdays import parse_calendar

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database migrations").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="migrate the configured database to the newest schema")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(handler=_db_upgrade)
    db.add_parser("current", help="print the database's schema revision").set_defaults(handler=_db_current)
    db.add_parser("seed", help="load departments, the sample catalog and holiday calendars into empty tables"
                  ).set_defaults(handler=_db_seed)

    cal = sub.add_parser("calendar", help="working-day calendar").add_subparsers(dest="cal_command", required=True)
    p = cal.add_parser("load", help="load holidays and adjusted working days from a YAML file")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=_calendar_load)

    dep = sub.add_parser("departments", help="departments").add_subparsers(dest="dep_command", required=True)
    p = dep.add_parser("add", help="add or rename a department")
    p.add_argument("code")
    p.add_argument("name")
    p.add_argument("--phone")
    p.set_defaults(handler=_department_add)
    dep.add_parser("list", help="list departments").set_defaults(handler=_department_list)

    users = sub.add_parser("users", help="agents and staff").add_subparsers(dest="user_command", required=True)
    p = users.add_parser("add", help="add a user (the password is read from the terminal or standard input)")
    p.add_argument("username")
    p.add_argument("display_name")
    p.add_argument("--role", choices=[r.value for r in Role], default=Role.AGENT.value)
    p.add_argument("--department")
    p.add_argument("--extension", help="SIP URI or extension the hotline transfers to")
    p.set_defaults(handler=_user_add)


def _run(coro: Any) -> int:
    try:
        return int(asyncio.run(coro) or 0)
    except StoreError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from tickets.migrate import current_revision, upgrade

    upgrade(settings, args.revision)
    print(f"database at revision {current_revision(settings)}")
    return 0


def _db_seed(_args: argparse.Namespace, settings: Settings) -> int:
    from tickets.migrate import upgrade
    from tickets.seed import seed_empty

    upgrade(settings)

    async def main() -> int:
        from tickets.store import Store

        store = Store(settings)
        try:
            seeded = await seed_empty(settings, store)
        finally:
            await store.close()
        print(f"seeded {seeded.departments} departments, {seeded.guides} guides, {seeded.calendar_days} calendar days")
        return 0

    return _run(main())


def _db_current(_args: argparse.Namespace, settings: Settings) -> int:
    from tickets.migrate import current_revision

    print(current_revision(settings) or "empty (run: hotline db upgrade)")
    return 0


def _calendar_load(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rows = parse_calendar(yaml.safe_load(args.file.read_text(encoding="utf-8")), str(args.file))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        from tickets.store import Store

        store = Store(settings)
        try:
            count = await store.tickets.load_calendar(rows)
        finally:
            await store.close()
        print(f"loaded {count} calendar days")
        return 0

    return _run(main())


def _department_add(args: argparse.Namespace, settings: Settings) -> int:
    async def main() -> int:
        from tickets.store import Store

        store = Store(settings)
        try:
            await store.people.add_department(args.code, args.name, args.phone)
        finally:
            await store.close()
        print(f"department {args.code} saved")
        return 0

    return _run(main())


def _department_list(_args: argparse.Namespace, settings: Settings) -> int:
    async def main() -> int:
        from tickets.store import Store

        store = Store(settings)
        try:
            for d in await store.people.departments():
                print(f"{d.code}\t{d.name}\t{d.phone or ''}")
        finally:
            await store.close()
        return 0

    return _run(main())


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")

    async def main() -> int:
        from tickets.store import Store

        store = Store(settings)
        try:
            user = await store.people.add_user(args.username, args.display_name, Role(args.role), password,
                                               department_code=args.department, extension=args.extension)
        finally:
            await store.close()
        print(f"user {user.username} ({user.role.value}) added with id {user.id}")
        return 0

    return _run(main())
