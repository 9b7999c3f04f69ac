"""The catalog's async API over the shared store, and the immutable in-memory snapshot the TV API serves.

Everything returned is a frozen dataclass (never an ORM object), so callers may keep it across sessions.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets.catalog.importer import apply_items
from tickets.catalog.models import CatalogRevision, GuideItemRow, GuideThemeRow, item_themes
from tickets.catalog.schema import GuideItem, ImportSummary, Page, Theme
from tickets.catalog.search import SearchMode, item_order, parse_query

__all__ = ["Catalog", "CatalogSnapshot"]

MAX_PAGE_SIZE = 100


def _check_page(page: int, page_size: int) -> None:
    if page < 1:
        raise ValueError(f"page: expected 1 or more, got {page}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size: expected 1-{MAX_PAGE_SIZE}, got {page_size}")


def _agency_matches(item: GuideItem, agency: str) -> bool:
    return item.department_code == agency or agency.lower() in item.agency.lower()


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    """The whole catalog at one revision, with the same list/search/get/top behaviour as :class:`Catalog`."""

    revision: int
    themes: tuple[Theme, ...]
    items: tuple[GuideItem, ...]
    _by_code: Mapping[str, GuideItem] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[str, GuideItem] = {}
        for item in self.items:  # items are in list order, so a basic code maps to its first implementation
            by_code.setdefault(item.basic_code, item)
            by_code[item.implementation_code] = item
        object.__setattr__(self, "_by_code", types.MappingProxyType(by_code))

    @property
    def etag(self) -> str:
        return f'"catalog-{self.revision}"'

    def get(self, code: str) -> GuideItem | None:
        return self._by_code.get(code.strip().upper())

    def top(self, n: int) -> tuple[GuideItem, ...]:
        return self.items[: max(n, 0)]

    def list_items(self, theme: str | None = None, agency: str | None = None, trips: int | None = None,
                   page: int = 1, page_size: int = 20) -> Page:
        _check_page(page, page_size)
        chosen = [i for i in self.items
                  if (theme is None or theme in i.themes) and (agency is None or _agency_matches(i, agency))
                  and (trips is None or i.trips == trips)]
        return _page(chosen, page, page_size)

    def search(self, query: str, mode: SearchMode | str = SearchMode.AUTO, page: int = 1,
               page_size: int = 20) -> Page:
        _check_page(page, page_size)
        q = parse_query(query, mode)
        return _page(sorted((i for i in self.items if q.matches(i)), key=q.sort_key), page, page_size)


def _page(items: Sequence[GuideItem], page: int, page_size: int) -> Page:
    start = (page - 1) * page_size
    return Page(tuple(items[start : start + page_size]), len(items), page, page_size)


class Catalog:
    """Service-guide catalog in the shared store. ``sessions`` comes from ``tickets.db.session_factory``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list_themes(self) -> tuple[Theme, ...]:
        """Every theme in vocabulary order, with how many items carry it."""
        async with self._sessions() as session:
            return await self._themes(session)

    @staticmethod
    async def _themes(session: AsyncSession) -> tuple[Theme, ...]:
        counts = (
            select(item_themes.c.theme_code, func.count().label("n"))
            .group_by(item_themes.c.theme_code).subquery()
        )
        stmt = (select(GuideThemeRow, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.theme_code == GuideThemeRow.code)
                .order_by(GuideThemeRow.position, GuideThemeRow.code))
        rows = (await session.execute(stmt)).all()
        return tuple(Theme(t.code, t.name, t.kind, t.position, int(n)) for t, n in rows)

    async def list_items(self, theme: str | None = None, agency: str | None = None, trips: int | None = None,
                         page: int = 1, page_size: int = 20) -> Page:
        """Items by theme code, by agency (department code, or part of the agency name) and/or by trips."""
        _check_page(page, page_size)
        conditions: list[Any] = []
        if theme is not None:
            conditions.append(GuideItemRow.themes.any(GuideThemeRow.code == theme))
        if agency is not None:
            conditions.append(or_(GuideItemRow.department_code == agency,
                                  func.lower(GuideItemRow.agency).contains(agency.lower(), autoescape=True)))
        if trips is not None:
            conditions.append(GuideItemRow.trips == trips)
        return await self._page(select(GuideItemRow).where(*conditions).order_by(*item_order()), page, page_size)

    async def search(self, query: str, mode: SearchMode | str = SearchMode.AUTO, page: int = 1,
                     page_size: int = 20) -> Page:
        """Search by name, pinyin initials, remote-control digits or code (see tickets.catalog.search)."""
        _check_page(page, page_size)
        q = parse_query(query, mode)
        return await self._page(select(GuideItemRow).where(q.condition()).order_by(*q.order_by()), page, page_size)

    async def get(self, code: str) -> GuideItem | None:
        """The item with this implementation code, or the first (in list order) with this basic code."""
        code = code.strip().upper()
        stmt = (select(GuideItemRow)
                .where(or_(GuideItemRow.implementation_code == code, GuideItemRow.basic_code == code))
                .order_by(GuideItemRow.implementation_code != code, *item_order()).limit(1))
        async with self._sessions() as session:
            row = await session.scalar(stmt)
            return None if row is None else row.to_item()

    async def top(self, n: int) -> tuple[GuideItem, ...]:
        """The ``n`` most asked-for items (by popularity rank; unranked items fill up in code order)."""
        if n <= 0:
            return ()
        async with self._sessions() as session:
            rows = (await session.scalars(select(GuideItemRow).order_by(*item_order()).limit(n))).all()
            return tuple(r.to_item() for r in rows)

    async def revision(self) -> int:
        async with self._sessions() as session:
            return (await session.scalar(select(CatalogRevision.revision).where(CatalogRevision.id == 1))) or 0

    async def snapshot(self) -> CatalogSnapshot:
        """The whole catalog, read in one transaction so revision and items agree."""
        async with self._sessions() as session, session.begin():
            themes = await self._themes(session)
            revision = (await session.scalar(select(CatalogRevision.revision).where(CatalogRevision.id == 1))) or 0
            rows = (await session.scalars(select(GuideItemRow).order_by(*item_order()))).all()
            items = tuple(r.to_item() for r in rows)
        return CatalogSnapshot(revision=revision, themes=themes, items=items)

    async def import_items(self, items: Sequence[GuideItem], progress: Any = None) -> ImportSummary:
        """Upsert validated items in one transaction (see tickets.catalog.importer)."""
        return await apply_items(self._sessions, items, progress)

    async def _page(self, stmt: Select[Any], page: int, page_size: int) -> Page:
        count = select(func.count()).select_from(stmt.order_by(None).subquery())
        async with self._sessions() as session:
            total = (await session.scalar(count)) or 0
            rows = (await session.scalars(stmt.limit(page_size).offset((page - 1) * page_size))).all()
            return Page(tuple(r.to_item() for r in rows), total, page, page_size)
