"""The district's towns/streets and villages/communities (tickets/data/district.yaml) and its loader."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from tickets.district import DistrictError, Town, load_district, parse_district

from .conftest import PROJECT_ROOT

DISTRICT_FILE = PROJECT_ROOT / "tickets" / "data" / "district.yaml"


def test_shipped_district_has_12_towns_and_146_villages() -> None:
    district = load_district(DISTRICT_FILE)
    assert (district.code, district.name) == ("510112000000", "龙泉驿区")
    assert [t.name for t in district.towns] == [
        "龙泉街道", "大面街道", "十陵街道", "同安街道", "东安街道", "柏合街道", "西河街道",
        "洪安镇", "洛带镇", "黄土镇", "山泉镇", "茶店镇",
    ]
    assert district.village_count == 146
    assert [t.kind for t in district.towns].count("街道") == 7
    luodai = district.town("洛带镇")
    assert isinstance(luodai, Town) and luodai is district.town("510112102000") and luodai.kind == "镇"
    village = luodai.villages[0]
    assert district.village(village.code) == village and district.town_of(village.code) is luodai
    assert {v.kind for t in district.towns for v in t.villages} == {"村", "社区"}
    assert district.town("火星镇") is None and district.village("510112102999") is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        luodai.name = "x"  # type: ignore[misc]


def _doc() -> dict[str, Any]:
    return {"code": "510112000000", "name": "龙泉驿区", "towns": [
        {"code": "510112001000", "name": "龙泉街道", "villages": [
            {"code": "510112001001", "name": "驿都社区"}, {"code": "510112001201", "name": "五星村"}]},
        {"code": "510112101000", "name": "洪安镇", "villages": [{"code": "510112101001", "name": "洪安社区"}]},
    ]}


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    target: Any = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("code", "51011200000", "d.yaml: code: expected a 12-digit district code, got '51011200000'"),
        ("code", "510112001000", "d.yaml: code: expected a district code ending in 000000, got '510112001000'"),
        ("name", "龙泉驿", "d.yaml: name: expected a name ending in 区 or 县 or 市, got '龙泉驿'"),
        ("towns", [], "d.yaml: towns: expected a non-empty list of towns/streets"),
        ("colour", "red", "d.yaml: colour: unknown key (expected one of code, name, towns)"),
        ("towns.0.code", "510113001000",
         "d.yaml: towns[1].code: expected a 12-digit town code starting with 510112, got '510113001000'"),
        ("towns.1.code", "510112101001",
         "d.yaml: towns[2].code: expected a town code ending in 000, got '510112101001'"),
        ("towns.1.code", "510112001000", "d.yaml: towns[2].code: 510112001000 is already used by towns[1]"),
        ("towns.1.name", "龙泉街道", "d.yaml: towns[2].name: 龙泉街道 is already used by towns[1]"),
        ("towns.1.name", "洪安村", "d.yaml: towns[2].name: expected a name ending in 街道 or 镇 or 乡, got '洪安村'"),
        ("towns.1.name", None, "d.yaml: towns[2].name: expected a name, got None"),
        ("towns.1", "洪安镇", "d.yaml: towns[2]: expected a mapping with code, name, villages"),
        ("towns.1.villages", [], "d.yaml: towns[2].villages: expected a non-empty list of villages/communities"),
        ("towns.0.villages.1.code", "510112101201",
         "d.yaml: towns[1].villages[2].code: expected a 12-digit village code starting with 510112001, "
         "got '510112101201'"),
        ("towns.0.villages.1.code", "510112001000",
         "d.yaml: towns[1].villages[2].code: expected a village code not ending in 000, got '510112001000'"),
        ("towns.0.villages.1.code", "510112001001",
         "d.yaml: towns[1].villages[2].code: 510112001001 is already used by towns[1].villages[1]"),
        ("towns.0.villages.1.name", "驿都社区",
         "d.yaml: towns[1].villages[2].name: 驿都社区 is already used by towns[1].villages[1]"),
        ("towns.0.villages.1.name", "五星组",
         "d.yaml: towns[1].villages[2].name: expected a name ending in 村 or 社区, got '五星组'"),
        ("towns.0.villages.1.kind", "村",
         "d.yaml: towns[1].villages[2].kind: unknown key (expected one of code, name)"),
    ],
)
def test_bad_district_entries(tmp_path: Path, path: str, value: Any, message: str) -> None:
    file = tmp_path / "d.yaml"
    file.write_text(yaml.safe_dump(_set(_doc(), path, value), allow_unicode=True), encoding="utf-8")
    with pytest.raises(DistrictError) as info:
        load_district(file)
    assert str(info.value) == message


def test_bad_district_files(tmp_path: Path) -> None:
    assert parse_district(_doc()).village_count == 4 - 1
    file = tmp_path / "d.yaml"
    for text, message in [
        ("", "d.yaml: the file is empty"),
        ("- a\n", "d.yaml: top level: expected a mapping with code, name, towns"),
        ("code: [\n",
         "d.yaml: not valid YAML at line 2, column 1: expected the node content, but found '<stream end>'"),
    ]:
        file.write_text(text, encoding="utf-8")
        with pytest.raises(DistrictError) as info:
            load_district(file)
        assert str(info.value) == message
    with pytest.raises(DistrictError, match=r"missing\.yaml: cannot read the district file: No such file or direc"):
        load_district(tmp_path / "missing.yaml")
    # the same village name may appear in two towns, and unquoted integer codes are accepted
    doc = _doc()
    doc["towns"][1]["villages"].append({"code": 510112101201, "name": "五星村"})
    assert parse_district(doc).village("510112101201") is not None
