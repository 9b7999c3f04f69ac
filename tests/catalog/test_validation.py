"""Validation of catalog files: every kind of bad row and bad file, with the exact messages (no database)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tickets.catalog import CatalogImportError, GuideItem
from tickets.catalog.exporter import item_to_record, render
from tickets.catalog.importer import parse_text, read_file

BASIC_MSG = "expected QR + 8 digits (5-digit main item, 3-digit sub-item), got "


def _yaml(records: list[Any]) -> str:
    return yaml.safe_dump({"items": records}, allow_unicode=True)


def _errors(records: list[Any], fmt: str = "yaml") -> list[str]:
    text = _yaml(records) if fmt == "yaml" else json.dumps({"items": records}, ensure_ascii=False)
    with pytest.raises(CatalogImportError) as info:
        parse_text(text, fmt, f"guides.{fmt}")
    return list(info.value.errors)


@pytest.fixture
def two(sample_items: tuple[GuideItem, ...]) -> list[dict[str, Any]]:
    """Two valid records; tests break the second (row 2)."""
    return [json.loads(json.dumps(item_to_record(item), ensure_ascii=False)) for item in sample_items[:2]]


IMPL_2 = "QR001050024510112000000115101120085101214"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("basic_code", "XK1234", f"row 2, field basic_code: {BASIC_MSG}'XK1234'"),
        ("basic_code", "XK00105002", f"row 2, field basic_code: {BASIC_MSG}'XK00105002'"),
        ("basic_code", "QR0010500", f"row 2, field basic_code: {BASIC_MSG}'QR0010500'"),
        ("implementation_code", "QR00105002",
         "row 2, field implementation_code: expected the basic code QR00105002 + 1-digit authority level (1-5) + "
         "12-digit area code + 18-character unified credit code, got 'QR00105002'"),
        ("item_type", "行政许可证",
         "row 2, field item_type: expected one of 行政许可, 公共服务, 行政确认, 行政给付, 行政征收, "
         "行政奖励, 行政裁决, 行政检查, 其他行政权力, got '行政许可证'"),
        ("name", None, "row 2, field name: required"),
        ("name", "  ", "row 2, field name: required"),
        ("name", "办" * 101, "row 2, field name: expected at most 100 characters, got 101"),
        ("agency", ["区公安分局"], "row 2, field agency: expected text, got a list"),
        ("department_code", "公安",
         "row 2, field department_code: expected 1-32 lower-case letters, digits, '_', '.' or '-', got '公安'"),
        ("conditions", None, "row 2, field conditions: required"),
        ("materials", [], "row 2, field materials: required (at least one entry)"),
        ("materials", [{"name": "身份证", "form": "扫描件", "copies": 1}],
         "row 2, field materials[1].form: expected one of 原件, 复印件, 原件及复印件, 电子材料, got '扫描件'"),
        ("materials", [{"name": "身份证", "form": "原件"}, {"name": "户口簿", "form": "复印件", "copies": 0}],
         "row 2, field materials[2].copies: expected an integer 1-99, got 0"),
        ("materials", [{"form": "原件"}], "row 2, field materials[1].name: required"),
        ("materials", [{"name": "身份证", "form": "原件", "colour": "red"}],
         "row 2, field materials[1].colour: unknown field (expected one of name, form, copies, notes)"),
        ("materials", ["身份证"],
         "row 2, field materials[1]: expected a mapping with name, form, copies, notes, got '身份证'"),
        ("steps", "受理", "row 2, field steps: expected a list, got '受理'"),
        ("steps", ["受理", {"detail": "审核材料"}], "row 2, field steps[2].name: required"),
        ("steps", [["受理"]],
         "row 2, field steps[1]: expected a step name or a mapping with name and detail, got a list"),
        ("promised_limit_days", 30,
         "row 2, field promised_limit_days: expected at most the statutory limit (0), got 30"),
        ("promised_limit_days", "三天",
         "row 2, field promised_limit_days: expected a number of working days 0-365 or 即办件, got '三天'"),
        ("promised_limit_days", None, "row 2, field promised_limit_days: required"),
        ("statutory_limit_days", -1,
         "row 2, field statutory_limit_days: expected a number of working days 0-365 or 即办件, got -1"),
        ("fee", "工本费10元", "row 2, field fee_basis: required when a fee is charged (fee is not 免费)"),
        ("legal_basis", "", "row 2, field legal_basis: required"),
        ("consult_phone", "8485",
         "row 2, field consult_phone: expected a number like 028-84851234 or a 5-6 digit hotline, got '8485'"),
        ("complaint_phone", "028 84851234",
         "row 2, field complaint_phone: expected a number like 028-84851234 or a 5-6 digit hotline, "
         "got '028 84851234'"),
        ("online_url", "www.example.cn",
         "row 2, field online_url: expected an http:// or https:// address, got 'www.example.cn'"),
        ("trips", -1, "row 2, field trips: expected an integer 0-9, got -1"),
        ("trips", True, "row 2, field trips: expected an integer 0-9, got True"),
        ("themes", ["火星"], "row 2, field themes: unknown theme '火星' (expected codes or names such as personal, "
         "business, birth, household, school, employment, marriage, medical, housing, retirement, elderly, "
         "social_aid, disability, veterans, start_business, operation, construction, funeral)"),
        ("popularity_rank", 0, "row 2, field popularity_rank: expected an integer 1-99999, got 0"),
        ("colour", "red", "row 2, field colour: unknown field (expected one of name, basic_code, implementation_code, "
         "item_type, agency, department_code, conditions, materials, steps, statutory_limit_days, "
         "promised_limit_days, fee, fee_basis, legal_basis, place, hours, consult_phone, complaint_phone, "
         "online_url, trips, themes, popularity_rank)"),
    ],
)
def test_each_kind_of_bad_row_is_reported_by_row_and_field(
    two: list[dict[str, Any]], field: str, value: Any, message: str
) -> None:
    two[1][field] = value
    assert _errors(two) == [message]


def test_every_bad_row_and_field_is_reported_not_just_the_first(two: list[dict[str, Any]]) -> None:
    two[0]["trips"] = "many"
    two[1]["basic_code"] = "QR1"
    two[1]["consult_phone"] = "110"
    rows = [*two, "not a mapping", copy.deepcopy(two[0])]
    rows[3]["trips"] = 1
    assert _errors(rows, "json") == [
        "row 1, field trips: expected an integer 0-9, got 'many'",
        f"row 2, field basic_code: {BASIC_MSG}'QR1'",
        "row 2, field consult_phone: expected a number like 028-84851234 or a 5-6 digit hotline, got '110'",
        "row 3: expected a mapping of fields, got 'not a mapping'",
    ]


def test_duplicate_implementation_code(two: list[dict[str, Any]]) -> None:
    assert _errors([two[0], two[1], copy.deepcopy(two[1])]) == [
        "row 3, field implementation_code: duplicate of row 2"
    ]


def test_lenient_forms_are_normalised(two: list[dict[str, Any]]) -> None:
    two[1] |= {"promised_limit_days": "即办件", "statutory_limit_days": "5个工作日", "themes": ["出生", "个人办事"],
               "item_type": "QR", "trips": "0", "steps": ["受理", {"name": "办结", "detail": None}],
               "department_code": "", "name": "  户口迁出登记 \n"}
    items = parse_text(_yaml(two), "yaml", "guides.yaml")
    item = items[1]
    assert (item.promised_limit_days, item.statutory_limit_days, item.themes) == (0, 5, ("personal", "birth"))
    assert item.trips == 0 and item.department_code is None and item.name == "户口迁出登记"
    assert item.promised_label == "即办件" and item.statutory_label == "5个工作日" and item.trips_label == "零跑路"


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("yaml", "", "guides.yaml: the file is empty"),
        ("yaml", "  \n# only a comment\n", "guides.yaml: the file is empty"),
        ("json", "   ", "guides.json: the file is empty"),
        ("csv", "\n\n", "guides.csv: the file is empty"),
        ("yaml", "items: [\n  - a: b\n", "guides.yaml: not valid YAML at line 2, column 3: expected the node content, "
         "but found '-'"),
        ("yaml", "items:\n  - name: x\n   bad: indent\n",
         "guides.yaml: not valid YAML at line 3, column 4: expected <block end>, but found '<block mapping start>'"),
        ("json", '{"items": [}', "guides.json: not valid JSON at line 1, column 12: Expecting value"),
        ("yaml", "- a\n- b\n", "guides.yaml: expected a mapping with an 'items' list at the top level, got a list"),
        ("json", "42", "guides.json: expected a mapping with an 'items' list at the top level, got 42"),
        ("yaml", "just text", "guides.yaml: expected a mapping with an 'items' list at the top level, got 'just text'"),
        ("yaml", "items: {a: 1}", "guides.yaml: expected 'items' to be a list, got a mapping"),
        ("yaml", "items:", "guides.yaml: expected 'items' to be a list, got nothing"),
        ("yaml", "itemz: []", "guides.yaml: unknown top-level key 'itemz' (expected 'items')"),
        ("json", '{"items": []}', "guides.json: no items to import"),
        ("csv", 'name,basic_code\n"abc,1\n', "guides.csv: not valid CSV at line 2: unexpected end of data"),
    ],
)
def test_bad_files(fmt: str, text: str, message: str) -> None:
    with pytest.raises(CatalogImportError) as info:
        parse_text(text, fmt, f"guides.{fmt}")
    assert info.value.errors == (message,)


def _sample_csv(sample_items: tuple[GuideItem, ...]) -> list[str]:
    return render(sample_items, "csv").splitlines(keepends=True)


def test_csv_bad_row_is_reported_by_data_row_number(sample_items: tuple[GuideItem, ...]) -> None:
    lines = _sample_csv(sample_items)
    assert all("\n" not in line[:-1] for line in lines)  # one line per item in the sample
    lines[7] = lines[7].replace("QR00107001,", "QR107001,", 1)  # row 7 (居住证申领): line 8 with the header
    with pytest.raises(CatalogImportError) as info:
        parse_text("".join(lines), "csv", "guides.csv")
    assert info.value.errors == (
        f"row 7, field basic_code: {BASIC_MSG}'QR107001'",
    )


def test_csv_header_and_field_count_errors(sample_items: tuple[GuideItem, ...]) -> None:
    lines = _sample_csv(sample_items)
    header = lines[0].replace("online_url", "website").replace(",themes", "")
    with pytest.raises(CatalogImportError) as info:
        parse_text(header + "".join(lines[1:]), "csv", "guides.csv")
    assert info.value.errors[0].startswith("guides.csv: unknown column 'website' in the header (expected name, ")
    assert info.value.errors[1] == "guides.csv: missing column(s) in the header: themes"
    with pytest.raises(CatalogImportError) as info:
        parse_text(lines[0] + lines[1] + "a,b,c\n", "csv", "guides.csv")
    assert info.value.errors == ("row 2: expected 22 fields, got 3",)


def test_csv_compact_cells_with_escapes(sample_items: tuple[GuideItem, ...], tmp_path: Path) -> None:
    header = render(sample_items[:1], "csv").splitlines()[0]
    record = render(sample_items[:1], "csv").splitlines()[1]
    first = sample_items[0]
    cells = {
        "materials": r"户口簿\;身份证|原件及复印件|2|首页\|本人页;照片|原件",
        "steps": "受理|窗口核验;审核;办结|当场发证",
        "themes": "personal;出生",
    }
    import csv
    import io

    row = next(csv.DictReader(io.StringIO(header + "\n" + record + "\n")))
    row |= cells
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header.split(","), lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    path = tmp_path / "one.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    item = read_file(path)[0]
    assert [(m.name, m.form.value, m.copies, m.notes) for m in item.materials] == [
        ("户口簿;身份证", "原件及复印件", 2, "首页|本人页"), ("照片", "原件", 1, None)
    ]
    assert [(s.name, s.detail) for s in item.steps] == [("受理", "窗口核验"), ("审核", None), ("办结", "当场发证")]
    assert item.themes == ("personal", "birth") and item.name == first.name
    # and the exporter escapes them back
    assert r"户口簿\;身份证|原件及复印件|2|首页\|本人页;照片|原件|1" in render([item], "csv")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogImportError) as info:
        read_file(tmp_path / "guides.txt")
    assert info.value.errors == ("guides.txt: unknown format (expected a .yaml, .yml, .json or .csv file)",)
    with pytest.raises(CatalogImportError) as info:
        read_file(tmp_path / "missing.yaml")
    assert info.value.errors == ("missing.yaml: cannot read the file: No such file or directory",)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"name\n" + "café".encode("latin-1"))
    with pytest.raises(CatalogImportError) as info:
        read_file(bad)
    assert info.value.errors == ("latin1.csv: not UTF-8 text (byte 8)",)


def test_the_sample_catalog_is_valid_and_realistic(sample_items: tuple[GuideItem, ...]) -> None:
    assert len(sample_items) >= 40
    names = {i.name for i in sample_items}
    for expected in ("户口迁入登记", "出生登记", "居民身份证申领", "社会保障卡申领", "异地就医备案", "住房公积金提取",
                     "企业设立登记", "公共租赁住房申请", "残疾人证办理", "结婚登记", "离婚登记", "不动产抵押登记",
                     "生育登记", "最低生活保障审核确认", "高龄津贴发放", "义务教育阶段新生入学", "门头招牌设置审核"):
        assert expected in names
    at_most_one_trip = sum(1 for i in sample_items if i.trips <= 1)
    assert at_most_one_trip / len(sample_items) >= 0.8  # the plan's "最多跑一次" target
    assert all(i.materials and i.steps and i.legal_basis and i.consult_phone.startswith("028-8") for i in sample_items)
