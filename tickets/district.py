"""The district's towns/streets (乡镇/街道) and villages/communities (村/社区), loaded from configuration data
(``paths.district_file``, by default tickets/data/district.yaml). Parsers raise :class:`DistrictError` (a
ValueError) with exact messages that name the entry."""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["District", "DistrictError", "Town", "Village", "load_district", "parse_district"]

_CODE_RE = re.compile(r"\d{12}")


class DistrictError(ValueError):
    """The district file is missing, unreadable or wrong; the message names the file and the entry."""


@dataclasses.dataclass(frozen=True, slots=True)
class Village:
    """A village (村) or community (社区) with its 12-digit code."""

    code: str
    name: str

    @property
    def kind(self) -> str:
        return "社区" if self.name.endswith("社区") else "村"


@dataclasses.dataclass(frozen=True, slots=True)
class Town:
    """A town (镇/乡) or street (街道) with its villages/communities in file order."""

    code: str
    name: str
    villages: tuple[Village, ...]

    @property
    def kind(self) -> str:
        return "街道" if self.name.endswith("街道") else "乡" if self.name.endswith("乡") else "镇"


@dataclasses.dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str
    towns: tuple[Town, ...]
    _index: Mapping[str, Town | Village] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Town | Village] = {}
        for town in self.towns:
            index[town.code] = town
            index[town.name] = town
            for village in town.villages:
                index[village.code] = village
        object.__setattr__(self, "_index", types.MappingProxyType(index))

    @property
    def village_count(self) -> int:
        return sum(len(t.villages) for t in self.towns)

    def town(self, key: str) -> Town | None:
        """The town with this code or name."""
        found = self._index.get(key)
        return found if isinstance(found, Town) else None

    def village(self, code: str) -> Village | None:
        found = self._index.get(code)
        return found if isinstance(found, Village) else None

    def town_of(self, village_code: str) -> Town | None:
        return self.town(village_code[:9] + "000") if self.village(village_code) else None


def load_district(path: str | Path) -> District:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DistrictError(f"{path}: cannot read the district file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise DistrictError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise DistrictError(f"{path.name}: not valid YAML{where}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise DistrictError(f"{path.name}: not valid YAML: {exc}") from exc
    return parse_district(data, path.name)


def _code(value: Any, key: str, source: str, *, prefix: str, what: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _CODE_RE.fullmatch(text) or not text.startswith(prefix):
        start = f" starting with {prefix}" if prefix else ""
        raise DistrictError(f"{source}: {key}: expected a 12-digit {what} code{start}, got {value!r}")
    return text


def _name(value: Any, key: str, source: str, suffixes: tuple[str, ...]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DistrictError(f"{source}: {key}: expected a name, got {value!r}")
    name = value.strip()
    if not name.endswith(suffixes):
        raise DistrictError(f"{source}: {key}: expected a name ending in {' or '.join(suffixes)}, got {name!r}")
    return name


def _mapping(value: Any, key: str, source: str, fields: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DistrictError(f"{source}: {key}: expected a mapping with {', '.join(fields)}")
    unknown = [k for k in value if k not in fields]
    if unknown:
        where = unknown[0] if key == "top level" else f"{key}.{unknown[0]}"
        raise DistrictError(f"{source}: {where}: unknown key (expected one of {', '.join(fields)})")
    return value


def parse_district(data: Any, source: str = "district") -> District:
    """Validate an already parsed district document."""
    if data is None:
        raise DistrictError(f"{source}: the file is empty")
    doc = _mapping(data, "top level", source, ("code", "name", "towns"))
    code = _code(doc.get("code"), "code", source, prefix="", what="district")
    if not code.endswith("000000"):
        raise DistrictError(f"{source}: code: expected a district code ending in 000000, got {code!r}")
    district_name = _name(doc.get("name"), "name", source, ("区", "县", "市"))
    raw_towns = doc.get("towns")
    if not isinstance(raw_towns, list) or not raw_towns:
        raise DistrictError(f"{source}: towns: expected a non-empty list of towns/streets")
    towns: list[Town] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(raw_towns, start=1):
        key = f"towns[{i}]"
        t = _mapping(raw, key, source, ("code", "name", "villages"))
        town_code = _code(t.get("code"), f"{key}.code", source, prefix=code[:6], what="town")
        if not town_code.endswith("000"):
            raise DistrictError(f"{source}: {key}.code: expected a town code ending in 000, got {town_code!r}")
        town_name = _name(t.get("name"), f"{key}.name", source, ("街道", "镇", "乡"))
        for value, field in ((town_code, "code"), (town_name, "name")):
            if value in seen:
                raise DistrictError(f"{source}: {key}.{field}: {value} is already used by {seen[value]}")
            seen[value] = key
        raw_villages = t.get("villages")
        if not isinstance(raw_villages, list) or not raw_villages:
            raise DistrictError(f"{source}: {key}.villages: expected a non-empty list of villages/communities")
        villages: list[Village] = []
        for j, raw_v in enumerate(raw_villages, start=1):
            vkey = f"{key}.villages[{j}]"
            v = _mapping(raw_v, vkey, source, ("code", "name"))
            v_code = _code(v.get("code"), f"{vkey}.code", source, prefix=town_code[:9], what="village")
            if v_code.endswith("000"):
                raise DistrictError(f"{source}: {vkey}.code: expected a village code not ending in 000, got {v_code!r}")
            v_name = _name(v.get("name"), f"{vkey}.name", source, ("村", "社区"))
            for value, field in ((v_code, "code"), (f"{town_name}{v_name}", "name")):
                if value in seen:
                    shown = v_name if field == "name" else value
                    raise DistrictError(f"{source}: {vkey}.{field}: {shown} is already used by {seen[value]}")
                seen[value] = vkey
            villages.append(Village(v_code, v_name))
        towns.append(Town(town_code, town_name, tuple(villages)))
    return District(code, district_name, tuple(towns))
