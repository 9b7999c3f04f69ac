"""Writing the catalog as YAML, JSON or CSV in the form the importer reads back to the same catalog."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import yaml

from tickets.catalog.compact import encode_materials, encode_steps, encode_themes
from tickets.catalog.schema import GuideItem, Material
from tickets.catalog.validation import FIELDS

__all__ = ["item_to_record", "render"]


class _Flow(dict[str, Any]):
    """A mapping written on one line ({name: …, form: …})."""


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line text, flow style for material entries, Chinese written as is."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)


def _material(m: Material) -> _Flow:
    entry = _Flow(name=m.name, form=m.form.value, copies=m.copies)
    if m.notes:
        entry["notes"] = m.notes
    return entry


def item_to_record(item: GuideItem) -> dict[str, Any]:
    """The file form of an item (YAML/JSON): every field in a fixed order, empty optional fields left out."""
    record: dict[str, Any] = {}
    for field in FIELDS:
        if field == "item_type":
            value: Any = item.item_type.value
        elif field == "materials":
            value = [_material(m) for m in item.materials]
        elif field == "steps":
            value = [s.name if s.detail is None else {"name": s.name, "detail": s.detail} for s in item.steps]
        elif field == "themes":
            value = list(item.themes)
        else:
            value = getattr(item, field)
        if value is not None:
            record[field] = value
    return record


def _csv_cell(item: GuideItem, field: str) -> str:
    if field == "item_type":
        return item.item_type.value
    if field == "materials":
        return encode_materials(item.materials)
    if field == "steps":
        return encode_steps(item.steps)
    if field == "themes":
        return encode_themes(item.themes)
    value = getattr(item, field)
    return "" if value is None else str(value)


def render(items: Sequence[GuideItem], fmt: str, header: str = "") -> str:
    """The catalog as text in ``fmt`` (yaml, json or csv). ``header`` is a comment put on top of YAML."""
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS)
        for item in items:
            writer.writerow([_csv_cell(item, f) for f in FIELDS])
        return out.getvalue()
    records = [item_to_record(item) for item in items]
    if fmt == "json":
        return json.dumps({"items": records}, ensure_ascii=False, indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown export format {fmt!r} (expected yaml, json or csv)")
    body = yaml.dump({"items": records}, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
    prefix = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return prefix + body
