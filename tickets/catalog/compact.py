"""The compact cell forms that let one CSV row carry an item's lists.

- materials: ``name|form|copies|notes;name|form|copies`` (notes and copies may be left out; copies default 1),
  e.g. ``居民身份证|原件|1;户口簿|复印件|2|首页及本人页``
- steps: ``name|detail;name`` e.g. ``受理|窗口核验材料;审核;办结``
- themes: ``personal;birth`` (codes or Chinese names)

A literal ``;``, ``|`` or ``\\`` inside a value is written ``\\;``, ``\\|``, ``\\\\``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tickets.catalog.schema import Material, Step

__all__ = ["decode_list", "decode_materials", "decode_steps", "encode_materials", "encode_steps", "encode_themes"]


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside backslash escapes; escapes other than the separators stay as they are."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "\\;|":
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out).strip()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace("|", "\\|")


def decode_list(cell: str | None) -> list[str] | None:
    if cell is None or not cell.strip():
        return None
    return [_unescape(p) for p in _split(cell, ";") if p.strip()]


def _records(cell: str | None) -> list[list[str | None]] | None:
    if cell is None or not cell.strip():
        return None
    records = []
    for part in _split(cell, ";"):
        if part.strip():
            records.append([_unescape(f) or None for f in _split(part, "|")])
    return records


def decode_materials(cell: str | None) -> list[Any] | None:
    records = _records(cell)
    if records is None:
        return None
    out: list[Any] = []
    for fields in records:
        if len(fields) > 4:
            out.append("|".join(f or "" for f in fields))  # reported as a bad entry by the validator
            continue
        fields = fields + [None] * (4 - len(fields))
        entry: dict[str, Any] = {"name": fields[0], "form": fields[1], "notes": fields[3]}
        if fields[2] is not None:
            entry["copies"] = fields[2]
        out.append(entry)
    return out


def decode_steps(cell: str | None) -> list[Any] | None:
    records = _records(cell)
    if records is None:
        return None
    out: list[Any] = []
    for fields in records:
        if len(fields) > 2:
            out.append(fields)
            continue
        out.append({"name": fields[0], "detail": fields[1] if len(fields) > 1 else None})
    return out


def encode_materials(materials: Sequence[Material]) -> str:
    out = []
    for m in materials:
        fields = [_escape(m.name), m.form.value, str(m.copies)]
        if m.notes:
            fields.append(_escape(m.notes))
        out.append("|".join(fields))
    return ";".join(out)


def encode_steps(steps: Sequence[Step]) -> str:
    return ";".join(_escape(s.name) + (f"|{_escape(s.detail)}" if s.detail else "") for s in steps)


def encode_themes(themes: Iterable[str]) -> str:
    return ";".join(themes)
