"""The catalog service on SQLite and on PostgreSQL: import, search in every mode, paging, filters, revision,
snapshot. Every expectation is pinned, so both databases are held to the same results."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from tickets.catalog import Catalog, CatalogSnapshot, GuideItem, Material, MaterialForm, SearchMode


def codes(page_or_items: object) -> list[str]:
    items = getattr(page_or_items, "items", page_or_items)
    return [i.basic_code for i in items]  # type: ignore[attr-defined]


async def test_import_sample_then_reimport_changes_nothing(
    catalog: Catalog, sample_items: tuple[GuideItem, ...]
) -> None:
    assert await catalog.revision() == 0
    first = await catalog.import_items(sample_items)
    assert (first.added, first.updated, first.unchanged, first.revision) == (len(sample_items), 0, 0, 1)
    again = await catalog.import_items(sample_items)
    assert (again.added, again.updated, again.unchanged, again.revision) == (0, 0, len(sample_items), 1)
    assert str(again) == f"added 0, updated 0, unchanged {len(sample_items)} (catalog revision 1)"
    assert await catalog.revision() == 1
    snap = await catalog.snapshot()
    assert snap.items == tuple(sorted(sample_items, key=lambda i: ((i.popularity_rank is None), i.popularity_rank or 0,
                                                                  i.implementation_code)))


async def test_revision_bumps_only_on_change(catalog: Catalog, sample_items: tuple[GuideItem, ...]) -> None:
    await catalog.import_items(sample_items)
    loaded = catalog
    before = await loaded.get("QR00105003")
    assert before is not None and before.updated_at is not None
    changed = dataclasses.replace(
        sample_items[2], promised_limit_days=0, trips=0,
        materials=(Material("出生医学证明", MaterialForm.ORIGINAL, 1, "医院出具"),
                   Material("户口簿", MaterialForm.COPY, 2)),
    )
    result = await loaded.import_items([changed, *sample_items[3:]])
    assert (result.added, result.updated, result.unchanged, result.revision) == (0, 1, len(sample_items) - 3, 2)
    after = await loaded.get("QR00105003")
    assert after == changed
    assert [(m.name, m.form, m.copies, m.notes) for m in after.materials] == [
        ("出生医学证明", MaterialForm.ORIGINAL, 1, "医院出具"), ("户口簿", MaterialForm.COPY, 2, None)]
    assert after.updated_at is not None and after.updated_at > before.updated_at
    assert after.updated_at.tzinfo is dt.UTC
    unchanged = await loaded.get("QR00105001")
    assert unchanged is not None and unchanged.updated_at == (await loaded.snapshot()).get("QR00105001").updated_at
    new = dataclasses.replace(sample_items[0], name="户口迁入登记（人才引进）",
                              basic_code="QR00105009",
                              implementation_code="QR00105009" + sample_items[0].implementation_code[10:])
    result = await loaded.import_items([new])
    assert (result.added, result.updated, result.revision) == (1, 0, 3)
    assert (await loaded.import_items([new])).revision == 3


@pytest.mark.parametrize(
    ("query", "mode", "expected"),
    [
        ("户口", "auto", ["QR00105001", "QR00105002"]),
        ("户口", "name", ["QR00105001", "QR00105002"]),
        ("（零星）", "auto", ["GG00303001"]),
        ("(零星)", "auto", ["GG00303001"]),  # full-width and half-width brackets fold alike (NFKC)
        ("hkq", "auto", ["QR00105001", "QR00105002"]),
        ("HKQ", "initials", ["QR00105001", "QR00105002"]),
        ("sfz", "auto", ["QR00106001", "QR00106002", "QR00106003"]),  # substring, not only prefix
        ("sydj", "auto", ["GG00203002", "GG00802001"]),  # 失业登记 (rank 15), 生育登记 (rank 28)
        ("5435", "auto", ["QR00701001", "QR00701002"]),  # jhdj 结婚登记, lhdj 离婚登记
        ("457", "digits", ["QR00105001", "QR00105002"]),
        ("2735", "auto", ["QR00105003", "XK00504001"]),  # csdj 出生登记 first: it starts with the digits
        ("QR00106", "auto", ["QR00106001", "QR00106002", "QR00106003"]),
        ("qr001060", "code", ["QR00106001", "QR00106002", "QR00106003"]),
        ("JF007", "auto", ["JF00702001", "JF00703001", "JF00705001", "JF00702002", "JF00704001"]),
        ("GG004010014510112", "auto", ["GG00401001"]),  # an implementation code prefix
        ("%", "name", []),
        ("_", "name", []),
        ("不动产", "auto", ["QR00602002", "QR00602001", "QR00602003"]),  # ranked first, then by code
        ("登记", "auto", ["QR00105001", "QR00105003", "GG00201001", "GG00301001", "QR00105002", "GG00204001",
                         "GG00203002", "XK00501001", "GG00203001", "QR00602002", "QR00701001", "GG00802001",
                         "GG00401003", "QR00602001", "QR00602003", "QR00701002", "XK00501002"]),  # by rank
    ],
)
async def test_search(loaded: Catalog, query: str, mode: str, expected: list[str]) -> None:
    page = await loaded.search(query, mode, page_size=50)
    assert codes(page) == expected
    assert page.total == len(expected)


async def test_search_prefix_matches_come_first(loaded: Catalog) -> None:
    # "dj" (登记) ends most names; 单位住房公积金缴存登记 starts with d but not dj, so none start with it
    page = await loaded.search("jy", SearchMode.INITIALS, page_size=50)
    assert codes(page)[:1] == ["GG00203001"]  # 就业登记 starts with jy; the others only contain it
    assert set(codes(page)) == {"GG00203001", "GG00204001", "GG00803001", "GG00803002", "GG00302001",
                                "JF00804002", "XK00502001"}


@pytest.mark.parametrize(
    ("query", "mode", "message"),
    [
        ("  ", "auto", "search query is empty"),
        ("户口", "initials", "initials search expects letters a-z, got '户口'"),
        ("hk", "digits", "digits search expects the digits 0-9, got 'hk'"),
        ("QR-001", "code", "code search expects letters and digits, got 'QR-001'"),
    ],
)
async def test_bad_queries(loaded: Catalog, query: str, mode: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        await loaded.search(query, mode)
    assert str(info.value) == message


async def test_paging_covers_everything_once(loaded: Catalog, sample_items: tuple[GuideItem, ...]) -> None:
    seen: list[str] = []
    page_no = 1
    while True:
        page = await loaded.list_items(page=page_no, page_size=10)
        assert page.total == len(sample_items) and page.pages == 5
        if not page.items:
            break
        seen.extend(codes(page))
        page_no += 1
    assert page_no == 6 and len(seen) == len(set(seen)) == len(sample_items)
    assert seen[:3] == ["GG00401001", "GG00302001", "QR00105001"]  # ranks 1, 2, 3
    last = await loaded.list_items(page=5, page_size=10)
    assert len(last.items) == 6
    with pytest.raises(ValueError, match=r"^page_size: expected 1-100, got 0$"):
        await loaded.list_items(page_size=0)
    with pytest.raises(ValueError, match=r"^page: expected 1 or more, got 0$"):
        await loaded.search("户口", page=0)
    second = await loaded.search("dj", page=2, page_size=5)
    assert second.total == 18 and len(second.items) == 5


async def test_filters(loaded: Catalog) -> None:
    assert codes(await loaded.list_items(theme="birth")) == ["QR00105003", "GG00802001", "GG00301002"]
    assert (await loaded.list_items(theme="nothing")).total == 0
    police = await loaded.list_items(agency="gaj")
    assert police.total == 7 and {i.agency for i in police.items} == {"成都市公安局龙泉驿区分局"}
    assert codes(await loaded.list_items(agency="公安")) == codes(police)
    assert (await loaded.list_items(agency="民政局")).total == 7
    assert codes(await loaded.list_items(trips=2)) == ["GG00401002", "GG00601001", "QR00701002", "XK00503002"]
    assert codes(await loaded.list_items(theme="housing", trips=0, agency="gjj")) == ["GG00401001", "GG00401003"]


async def test_themes_get_top(loaded: Catalog) -> None:
    themes = await loaded.list_themes()
    assert [t.code for t in themes][:3] == ["personal", "business", "birth"]
    counts = {t.code: t.item_count for t in themes}
    assert (counts["personal"], counts["business"], counts["birth"], counts["funeral"]) == (39, 12, 3, 1)
    assert next(t for t in themes if t.code == "birth").name == "出生"
    assert [i.name for i in await loaded.top(3)] == ["住房公积金提取", "异地就医备案", "户口迁入登记"]
    assert await loaded.top(0) == ()
    item = await loaded.get("qr00105003")
    assert item is not None and item.name == "出生登记" and item.trips_label == "零跑路"
    assert item.initials == "csdj" and item.digits == "2735"
    by_impl = await loaded.get(item.implementation_code)
    assert by_impl == item
    assert await loaded.get("QR99999999") is None


async def test_snapshot_is_immutable_and_agrees_with_the_database(loaded: Catalog) -> None:
    snap = await loaded.snapshot()
    assert isinstance(snap, CatalogSnapshot) and snap.revision == 1 and snap.etag == '"catalog-1"'
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.revision = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.items[0].name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap._by_code["X"] = snap.items[0]  # type: ignore[index]
    assert snap.themes == await loaded.list_themes()
    assert snap.top(5) == await loaded.top(5)
    for query in ("户口", "登记", "hkq", "dj", "sydj", "5435", "35", "QR001", "jf00702", "gg", "%", "证"):
        for page_no in (1, 2):
            in_memory = snap.search(query, page=page_no, page_size=4)
            assert in_memory == await loaded.search(query, page=page_no, page_size=4)
    for kwargs in ({}, {"theme": "housing"}, {"agency": "gaj"}, {"agency": "区民政"}, {"trips": 0},
                   {"theme": "personal", "trips": 1, "page": 2, "page_size": 5}):
        assert snap.list_items(**kwargs) == await loaded.list_items(**kwargs)  # type: ignore[arg-type]
    for code in ("QR00105003", snap.items[4].implementation_code, "nope"):
        assert snap.get(code) == await loaded.get(code)
