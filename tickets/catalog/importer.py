"""Reading catalog files (YAML, JSON, CSV) and applying them to the database in one transaction.

Every row is validated before anything is written; one bad row means nothing is imported and every problem is
reported. Items are matched on their implementation code (which starts with their basic code): new ones are
added, changed ones rewritten, identical ones left alone. The catalog revision goes up by one when anything
changed. CSV rows are numbered from 1 at the first data row (the header is not counted; blank lines are skipped).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets.catalog.compact import decode_list, decode_materials, decode_steps
from tickets.catalog.errors import CatalogImportError
from tickets.catalog.models import CatalogRevision, GuideItemRow, GuideThemeRow
from tickets.catalog.schema import THEMES, GuideItem, ImportSummary
from tickets.catalog.validation import FIELDS, REQUIRED, validate_rows

__all__ = ["FORMATS", "apply_items", "format_of", "parse_text", "read_file"]

log = logging.getLogger(__name__)

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".csv": "csv"}


def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CatalogImportError([f"{path.name}: unknown format (expected a .yaml, .yml, .json or .csv file)"])
    return fmt


def read_file(path: Path) -> list[GuideItem]:
    """Read and validate a catalog file; CatalogImportError lists every problem."""
    fmt = format_of(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogImportError([f"{path.name}: cannot read the file: {exc.strerror}"]) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogImportError([f"{path.name}: not UTF-8 text (byte {exc.start})"]) from exc
    return parse_text(text, fmt, path.name)


def parse_text(text: str, fmt: str, name: str) -> list[GuideItem]:
    """Parse and validate a catalog document given as text in ``fmt`` (yaml, json or csv)."""
    if not text.strip():
        raise CatalogImportError([f"{name}: the file is empty"])
    rows = _csv_rows(text, name) if fmt == "csv" else _document_rows(_load_document(text, fmt, name), name)
    if not rows:
        raise CatalogImportError([f"{name}: no items to import"])
    items, errors = validate_rows(rows)
    if errors:
        raise CatalogImportError(errors)
    return items


def _load_document(text: str, fmt: str, name: str) -> Any:
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogImportError(
                [f"{name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise CatalogImportError([f"{name}: not valid YAML{where}: {exc.problem}"]) from exc
    except yaml.YAMLError as exc:
        raise CatalogImportError([f"{name}: not valid YAML: {exc}"]) from exc


def _document_rows(doc: Any, name: str) -> list[Any]:
    if doc is None:
        raise CatalogImportError([f"{name}: the file is empty"])
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else repr(doc)[:40]
        raise CatalogImportError([f"{name}: expected a mapping with an 'items' list at the top level, got {kind}"])
    unknown = sorted(str(k) for k in doc if k != "items")
    if unknown:
        raise CatalogImportError([f"{name}: unknown top-level key {unknown[0]!r} (expected 'items')"])
    rows = doc.get("items")
    if not isinstance(rows, list):
        got = "nothing" if rows is None else "a mapping" if isinstance(rows, dict) else repr(rows)[:40]
        raise CatalogImportError([f"{name}: expected 'items' to be a list, got {got}"])
    return rows


def _csv_rows(text: str, name: str) -> list[Any]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        lines = [row for row in reader if row and any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise CatalogImportError([f"{name}: not valid CSV at line {reader.line_num}: {exc}"]) from exc
    if not lines:
        raise CatalogImportError([f"{name}: the file is empty"])
    header = [h.strip() for h in lines[0]]
    errors = [f"{name}: unknown column {h!r} in the header (expected {', '.join(FIELDS)})"
              for h in header if h not in FIELDS]
    missing = [f for f in REQUIRED if f not in header]
    if missing:
        errors.append(f"{name}: missing column(s) in the header: {', '.join(missing)}")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        errors.append(f"{name}: column {duplicated[0]!r} appears more than once in the header")
    if errors:
        raise CatalogImportError(errors)
    rows: list[Any] = []
    bad: list[str] = []
    for number, cells in enumerate(lines[1:], start=1):
        if len(cells) != len(header):
            bad.append(f"row {number}: expected {len(header)} fields, got {len(cells)}")
            rows.append({})
            continue
        row: dict[str, Any] = {h: (c if c.strip() else None) for h, c in zip(header, cells, strict=True)}
        row["materials"] = decode_materials(row.get("materials"))
        row["steps"] = decode_steps(row.get("steps"))
        row["themes"] = decode_list(row.get("themes"))
        rows.append(row)
    if bad:
        raise CatalogImportError(bad)
    return rows


async def _sync_themes(session: AsyncSession) -> tuple[dict[str, GuideThemeRow], bool]:
    rows = {t.code: t for t in (await session.scalars(select(GuideThemeRow))).all()}
    changed = False
    for theme in THEMES:
        row = rows.get(theme.code)
        if row is None:
            row = GuideThemeRow(code=theme.code, name=theme.name, kind=theme.kind, position=theme.position)
            session.add(row)
            rows[theme.code] = row
            changed = True
        elif (row.name, row.kind, row.position) != (theme.name, theme.kind, theme.position):
            row.name, row.kind, row.position = theme.name, theme.kind, theme.position
            changed = True
    return rows, changed


async def _bump_revision(session: AsyncSession, now: dt.datetime) -> int:
    result = await session.execute(
        update(CatalogRevision).where(CatalogRevision.id == 1)
        .values(revision=CatalogRevision.revision + 1, updated_at=now)
        .returning(CatalogRevision.revision)
    )
    revision = result.scalar_one_or_none()
    if revision is None:
        session.add(CatalogRevision(id=1, revision=1, updated_at=now))
        revision = 1
    return revision


async def apply_items(
    sessions: async_sessionmaker[AsyncSession],
    items: Sequence[GuideItem],
    progress: Callable[[int], object] | None = None,
) -> ImportSummary:
    """Upsert ``items`` (already validated) in one transaction and bump the revision if anything changed."""
    now = dt.datetime.now(dt.UTC)
    added = updated = unchanged = 0
    async with sessions.begin() as session:
        themes, themes_changed = await _sync_themes(session)
        existing = {r.implementation_code: r for r in (await session.scalars(select(GuideItemRow))).all()}
        for item in items:
            row = existing.get(item.implementation_code)
            if row is None:
                row = GuideItemRow()
                row.assign(item, themes, now)
                session.add(row)
                existing[item.implementation_code] = row
                added += 1
            elif row.to_item() == item:
                unchanged += 1
            else:
                # Drop the old child rows first: a flush inserts before it deletes, and positions are unique.
                row.materials.clear()
                row.steps.clear()
                await session.flush()
                row.assign(item, themes, now)
                updated += 1
            if progress is not None:
                progress(1)
        if added or updated or themes_changed:
            revision = await _bump_revision(session, now)
        else:
            revision = (await session.scalar(select(CatalogRevision.revision).where(CatalogRevision.id == 1))) or 0
    log.info("catalog import: %d added, %d updated, %d unchanged, revision %d", added, updated, unchanged, revision)
    return ImportSummary(added=added, updated=updated, unchanged=unchanged, revision=revision)
