"""Export writes what import reads back to the same catalog, in YAML, JSON and CSV, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickets.catalog import Catalog
from tickets.catalog.exporter import render
from tickets.catalog.importer import read_file


@pytest.mark.parametrize("fmt", ["yaml", "json", "csv"])
async def test_export_reimports_to_the_same_catalog(
    loaded: Catalog, catalog: Catalog, tmp_path: Path, fmt: str
) -> None:
    snap = await loaded.snapshot()
    text = render(snap.items, fmt, header="exported by a test")
    path = tmp_path / f"catalog.{fmt}"
    path.write_text(text, encoding="utf-8")
    items = read_file(path)
    assert tuple(items) == snap.items  # content equality, field by field, child rows in order
    summary = await catalog.import_items(items)  # a fresh, empty database
    assert (summary.added, summary.revision) == (len(snap.items), 1)
    copy = await catalog.snapshot()
    assert copy.items == snap.items and copy.themes == snap.themes
    assert render(copy.items, fmt, header="exported by a test") == text
    assert [(i.initials, i.digits) for i in copy.items] == [(i.initials, i.digits) for i in snap.items]
    again = await loaded.import_items(items)  # and into the original: nothing changes
    assert (again.added, again.updated, again.unchanged, again.revision) == (0, 0, len(items), snap.revision)


def test_yaml_export_is_readable(sample_items: tuple) -> None:  # type: ignore[type-arg]
    text = render(sample_items[:1], "yaml", header="line one\n\nline two")
    assert text.startswith("# line one\n#\n# line two\nitems:\n- name: 户口迁入登记\n")
    assert "  - {name: 申请人居民身份证, form: 原件, copies: 1}\n" in text
