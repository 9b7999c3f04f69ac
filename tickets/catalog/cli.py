"""``hotline guides import FILE``, ``hotline guides export [FILE]`` and ``hotline guides search QUERY``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from tickets.catalog.errors import CatalogImportError
from tickets.catalog.exporter import render
from tickets.catalog.importer import FORMATS, read_file
from tickets.catalog.schema import GuideItem, ImportSummary
from tickets.catalog.search import SearchMode, parse_query
from tickets.catalog.service import Catalog
from tickets.config import Settings
from tickets.db import create_engine, session_factory
from tickets.migrate import upgrade

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    guides = subparsers.add_parser("guides", help="the service-guide catalog (办事指南)")
    sub = guides.add_subparsers(dest="guides_command", required=True, metavar="ACTION")
    p = sub.add_parser("import", help="validate a YAML, JSON or CSV catalog file and upsert it in one transaction")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=_import)
    p = sub.add_parser("export", help="write the catalog as YAML, JSON or CSV (by extension; stdout if no file)")
    p.add_argument("file", type=Path, nargs="?")
    p.add_argument("--format", choices=("yaml", "json", "csv"), help="format for standard output (default yaml)")
    p.set_defaults(handler=_export)
    p = sub.add_parser("search", help="search the catalog by name, pinyin initials, remote digits or code")
    p.add_argument("query")
    p.add_argument("--mode", choices=[m.value for m in SearchMode], default="auto")
    p.set_defaults(handler=_search)


async def _with_catalog(settings: Settings, work: Any) -> Any:
    engine = create_engine(settings.database)
    try:
        return await work(Catalog(session_factory(engine)))
    finally:
        await engine.dispose()


def _run(settings: Settings, work: Any, command: str) -> tuple[int, Any]:
    try:
        upgrade(settings)
        return 0, asyncio.run(_with_catalog(settings, work))
    except (SQLAlchemyError, OSError) as exc:
        log.debug("guides %s failed", command, exc_info=True)
        print(f"hotline guides {command}: database error: {exc}", file=sys.stderr)
        return 1, None


def _import(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.file
    try:
        items = read_file(path)
    except CatalogImportError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        print(f"hotline guides import: nothing imported from {path.name} "
              f"({len(exc.errors)} problem{'s' if len(exc.errors) != 1 else ''})", file=sys.stderr)
        return 1

    async def work(catalog: Catalog) -> ImportSummary:
        with tqdm(total=len(items), file=sys.stderr, disable=not sys.stderr.isatty(), unit="item",
                  desc="importing") as bar:
            return await catalog.import_items(items, bar.update)

    code, summary = _run(settings, work, "import")
    if code == 0:
        print(f"{path.name}: {summary}")
    return code


def _export(args: argparse.Namespace, settings: Settings) -> int:
    path: Path | None = args.file
    if path is not None:
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            print(f"hotline guides export: unknown format for {path.name} (expected .yaml, .yml, .json or .csv)",
                  file=sys.stderr)
            return 2
    else:
        fmt = args.format or "yaml"

    async def work(catalog: Catalog) -> tuple[int, tuple[GuideItem, ...]]:
        snap = await catalog.snapshot()
        return snap.revision, snap.items

    code, result = _run(settings, work, "export")
    if code != 0:
        return code
    revision, items = result
    text = render(items, fmt, header=f"96536 service-guide catalog (办事指南), revision {revision}, {len(items)} items")
    if path is None:
        sys.stdout.write(text)
        return 0
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"hotline guides export: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {len(items)} items (catalog revision {revision}) to {path}", file=sys.stderr)
    return 0


def _search(args: argparse.Namespace, settings: Settings) -> int:
    try:
        parse_query(args.query, args.mode)
    except ValueError as exc:
        print(f"hotline guides search: {exc}", file=sys.stderr)
        return 2
    code, page = _run(settings, lambda c: c.search(args.query, args.mode, page_size=50), "search")
    if code == 0:
        for item in page.items:
            print(f"{item.implementation_code}  {item.name}  [{item.initials} {item.digits}]  {item.trips_label}")
        print(f"{page.total} found", file=sys.stderr)
    return code
