"""Validation of catalog rows (one mapping per item, as YAML, JSON and the CSV reader give them) into
:class:`GuideItem`. Every problem is reported as ``row N, field F: message`` and all rows are checked before
anything is imported."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tickets.catalog.pinyin import initials, t9_digits
from tickets.catalog.schema import THEMES, GuideItem, ItemType, Material, MaterialForm, Step

__all__ = ["FIELDS", "REQUIRED", "validate_rows"]

FIELDS = (
    "name", "basic_code", "implementation_code", "item_type", "agency", "department_code", "conditions",
    "materials", "steps", "statutory_limit_days", "promised_limit_days", "fee", "fee_basis", "legal_basis",
    "place", "hours", "consult_phone", "complaint_phone", "online_url", "trips", "themes", "popularity_rank",
)
OPTIONAL = frozenset({"department_code", "statutory_limit_days", "fee_basis", "online_url", "popularity_rank"})
REQUIRED = tuple(f for f in FIELDS if f not in OPTIONAL)

_BASIC_RE = re.compile(r"[A-Z]{2}\d{8}")
_IMPL_TAIL_RE = re.compile(r"[1-5]\d{12}[0-9A-HJ-NPQRTUWXY]{18}")
_DEPT_RE = re.compile(r"[a-z0-9_.-]{1,32}")
_PHONE_RE = re.compile(r"0\d{2,3}-\d{7,8}|\d{5,6}")
_DAYS_RE = re.compile(r"(\d+)\s*个?工作日")
_THEME_BY_KEY = {t.code: t for t in THEMES} | {t.name: t for t in THEMES}
_THEME_CODES = ", ".join(t.code for t in THEMES)
_FORMS = ", ".join(f.value for f in MaterialForm)
_TYPES = ", ".join(t.value for t in ItemType)
_MAX_TEXT = 4000


class _Row:
    """Collects the errors of one row while its fields are converted."""

    def __init__(self, number: int, data: Mapping[str, Any], errors: list[str]) -> None:
        self.number = number
        self.data = data
        self.errors = errors

    def error(self, field: str, message: str) -> None:
        self.errors.append(f"row {self.number}, field {field}: {message}")

    def text(self, field: str, max_len: int, *, required: bool = True, source: Mapping[str, Any] | None = None,
             key: str = "") -> str | None:
        key = key or field
        raw = (self.data if source is None else source).get(field)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                self.error(key, "required")
            return None
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            self.error(key, f"expected text, got {_show(raw)}")
            return None
        text = str(raw).strip()
        if len(text) > max_len:
            self.error(key, f"expected at most {max_len} characters, got {len(text)}")
            return None
        return text

    def integer(self, field: str, low: int, high: int, *, required: bool = True,
                source: Mapping[str, Any] | None = None, key: str = "", days: bool = False) -> int | None:
        key = key or field
        raw = (self.data if source is None else source).get(field)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                self.error(key, "required")
            return None
        number: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            number = raw
        elif isinstance(raw, str):
            text = raw.strip()
            if text.isdigit():
                number = int(text)
            elif days and text == "即办件":
                number = 0
            elif days and (m := _DAYS_RE.fullmatch(text)):
                number = int(m.group(1))
        if number is None or not low <= number <= high:
            what = f"a number of working days {low}-{high} or 即办件" if days else f"an integer {low}-{high}"
            self.error(key, f"expected {what}, got {_show(raw)}")
            return None
        return number


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def validate_rows(rows: Sequence[Any]) -> tuple[list[GuideItem], list[str]]:
    """Validate every row (numbered from 1); returns the items and the error lines (empty when all are good)."""
    errors: list[str] = []
    items: list[GuideItem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(rows, start=1):
        if not isinstance(raw, Mapping):
            errors.append(f"row {number}: expected a mapping of fields, got {_show(raw)}")
            continue
        before = len(errors)
        item = _validate_row(_Row(number, raw, errors))
        if item is None or len(errors) > before:
            continue
        first = seen.setdefault(item.implementation_code, number)
        if first != number:
            errors.append(f"row {number}, field implementation_code: duplicate of row {first}")
            continue
        items.append(item)
    return items, errors


def _validate_row(row: _Row) -> GuideItem | None:
    for key in row.data:
        if key not in FIELDS:
            row.error(str(key), f"unknown field (expected one of {', '.join(FIELDS)})")
    name = row.text("name", 100)
    item_type = _item_type(row)
    basic = _basic_code(row, item_type)
    impl = _implementation_code(row, basic)
    agency = row.text("agency", 100)
    dept = row.text("department_code", 32, required=False)
    if dept is not None and not _DEPT_RE.fullmatch(dept):
        row.error("department_code", f"expected 1-32 lower-case letters, digits, '_', '.' or '-', got {dept!r}")
    conditions = row.text("conditions", _MAX_TEXT)
    materials = _materials(row)
    steps = _steps(row)
    statutory = row.integer("statutory_limit_days", 0, 365, required=False, days=True)
    promised = row.integer("promised_limit_days", 0, 365, days=True)
    if statutory is not None and promised is not None and promised > statutory:
        row.error("promised_limit_days", f"expected at most the statutory limit ({statutory}), got {promised}")
    fee = row.text("fee", 200)
    fee_basis = row.text("fee_basis", _MAX_TEXT, required=False)
    if fee is not None and fee != "免费" and fee_basis is None:
        row.error("fee_basis", "required when a fee is charged (fee is not 免费)")
    legal = row.text("legal_basis", _MAX_TEXT)
    place = row.text("place", 200)
    hours = row.text("hours", 200)
    consult = _phone(row, "consult_phone")
    complaint = _phone(row, "complaint_phone")
    url = row.text("online_url", 500, required=False)
    if url is not None and not re.fullmatch(r"https?://\S+", url):
        row.error("online_url", f"expected an http:// or https:// address, got {url!r}")
    trips = row.integer("trips", 0, 9)
    themes = _themes(row)
    rank = row.integer("popularity_rank", 1, 99999, required=False)
    values = (name, item_type, basic, impl, agency, conditions, materials, steps, promised, fee, legal, place,
              hours, consult, complaint, trips, themes)
    if any(v is None for v in values):
        return None
    assert name is not None and item_type is not None and basic is not None and impl is not None
    assert agency is not None and conditions is not None and materials is not None and steps is not None
    assert promised is not None and fee is not None and legal is not None and place is not None
    assert hours is not None and consult is not None and complaint is not None and trips is not None
    assert themes is not None
    letters = initials(name)
    return GuideItem(
        name=name, basic_code=basic, implementation_code=impl, item_type=item_type, agency=agency,
        department_code=dept, conditions=conditions, materials=materials, steps=steps,
        statutory_limit_days=statutory, promised_limit_days=promised, fee=fee, fee_basis=fee_basis,
        legal_basis=legal, place=place, hours=hours, consult_phone=consult, complaint_phone=complaint,
        online_url=url, trips=trips, themes=themes, popularity_rank=rank, initials=letters, digits=t9_digits(letters),
    )


def _item_type(row: _Row) -> ItemType | None:
    raw = row.data.get("item_type")
    if raw is None or raw == "":
        row.error("item_type", "required")
        return None
    for t in ItemType:
        if raw in (t.value, t.name, t.letters):
            return t
    row.error("item_type", f"expected one of {_TYPES}, got {_show(raw)}")
    return None


def _basic_code(row: _Row, item_type: ItemType | None) -> str | None:
    code = row.text("basic_code", 40)
    if code is None:
        return None
    letters = item_type.letters if item_type else "2 type letters"
    if not _BASIC_RE.fullmatch(code) or (item_type is not None and code[:2] != item_type.letters):
        row.error("basic_code", f"expected {letters} + 8 digits (5-digit main item, 3-digit sub-item), got {code!r}")
        return None
    return code


def _implementation_code(row: _Row, basic: str | None) -> str | None:
    code = row.text("implementation_code", 60)
    if code is None or basic is None:
        return None
    if not code.startswith(basic) or not _IMPL_TAIL_RE.fullmatch(code[len(basic):]):
        row.error("implementation_code", f"expected the basic code {basic} + 1-digit authority level (1-5) + "
                  f"12-digit area code + 18-character unified credit code, got {code!r}")
        return None
    return code


def _phone(row: _Row, field: str) -> str | None:
    phone = row.text(field, 20)
    if phone is not None and not _PHONE_RE.fullmatch(phone):
        row.error(field, f"expected a number like 028-84851234 or a 5-6 digit hotline, got {phone!r}")
        return None
    return phone


def _list(row: _Row, field: str) -> list[Any] | None:
    raw = row.data.get(field)
    if raw is None or raw == [] or raw == "":
        row.error(field, "required (at least one entry)")
        return None
    if not isinstance(raw, list | tuple):
        row.error(field, f"expected a list, got {_show(raw)}")
        return None
    return list(raw)


def _materials(row: _Row) -> tuple[Material, ...] | None:
    raw = _list(row, "materials")
    if raw is None:
        return None
    out: list[Material] = []
    ok = True
    for i, entry in enumerate(raw, start=1):
        key = f"materials[{i}]"
        if not isinstance(entry, Mapping):
            row.error(key, f"expected a mapping with name, form, copies, notes, got {_show(entry)}")
            ok = False
            continue
        unknown = [k for k in entry if k not in ("name", "form", "copies", "notes")]
        if unknown:
            row.error(f"{key}.{unknown[0]}", "unknown field (expected one of name, form, copies, notes)")
            ok = False
        name = row.text("name", 200, source=entry, key=f"{key}.name")
        form: MaterialForm | None = None
        try:
            form = MaterialForm(entry.get("form"))
        except ValueError:
            row.error(f"{key}.form", f"expected one of {_FORMS}, got {_show(entry.get('form'))}")
        copies = row.integer("copies", 1, 99, source={"copies": entry.get("copies", 1)}, key=f"{key}.copies")
        notes = row.text("notes", 500, required=False, source=entry, key=f"{key}.notes")
        if name is None or form is None or copies is None:
            ok = False
            continue
        out.append(Material(name=name, form=form, copies=copies, notes=notes))
    return tuple(out) if ok else None


def _steps(row: _Row) -> tuple[Step, ...] | None:
    raw = _list(row, "steps")
    if raw is None:
        return None
    out: list[Step] = []
    ok = True
    for i, entry in enumerate(raw, start=1):
        key = f"steps[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping):
            row.error(key, f"expected a step name or a mapping with name and detail, got {_show(entry)}")
            ok = False
            continue
        unknown = [k for k in entry if k not in ("name", "detail")]
        if unknown:
            row.error(f"{key}.{unknown[0]}", "unknown field (expected one of name, detail)")
            ok = False
        name = row.text("name", 100, source=entry, key=f"{key}.name")
        detail = row.text("detail", 1000, required=False, source=entry, key=f"{key}.detail")
        if name is None:
            ok = False
            continue
        out.append(Step(name=name, detail=detail))
    return tuple(out) if ok else None


def _themes(row: _Row) -> tuple[str, ...] | None:
    raw = _list(row, "themes")
    if raw is None:
        return None
    found = set()
    for entry in raw:
        theme = _THEME_BY_KEY.get(entry) if isinstance(entry, str) else None
        if theme is None:
            row.error("themes", f"unknown theme {_show(entry)} (expected codes or names such as {_THEME_CODES})")
            return None
        found.add(theme.code)
    return tuple(t.code for t in THEMES if t.code in found)
