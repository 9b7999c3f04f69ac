"""First-start data goes only into empty tables."""

from __future__ import annotations

from tickets.seed import seed_empty


async def test_seed_once_then_never_again(store, db_settings) -> None:  # type: ignore[no-untyped-def]
    first = await seed_empty(db_settings, store)
    assert first.departments == 16 and first.guides >= 40 and first.calendar_days >= 30
    assert "成都市龙泉驿区住房和城乡建设局" in [d.name for d in await store.people.departments()]
    assert len(await store.catalog.top(5)) == 5
    again = await seed_empty(db_settings, store)
    assert (again.departments, again.guides, again.calendar_days) == (0, 0, 0)


async def test_existing_departments_are_kept(store, db_settings) -> None:  # type: ignore[no-untyped-def]
    await store.people.add_department("X1", "自定义部门")
    seeded = await seed_empty(db_settings, store)
    assert seeded.departments == 0
    assert [d.code for d in await store.people.departments()] == ["X1"]
