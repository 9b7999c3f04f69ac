"""How a query is read and matched, once for SQL and once in memory, with the same results on both.

Modes: ``name`` (substring of the name, NFKC and case folded), ``initials`` (substring of the pinyin initials,
"hkqy" finds 户口迁移), ``digits`` (substring of the remote-control keys of the initials, "4579"), ``code``
(prefix of the basic or the implementation code). ``auto`` picks: two letters then a digit -> code, digits only
-> digits, letters only -> initials, anything else -> name. Matches that start with the query come first, then
by popularity rank (unranked last), then by implementation code. Only ``LIKE`` is used, so SQLite and
PostgreSQL agree (the columns hold folded text, so SQLite's case-insensitive LIKE makes no difference).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any

from sqlalchemy import ColumnElement, case, or_

from tickets.catalog.models import GuideItemRow
from tickets.catalog.pinyin import fold
from tickets.catalog.schema import GuideItem

__all__ = ["Query", "SearchMode", "item_order", "list_order_key", "parse_query"]

_CODE_RE = re.compile(r"[a-z]{2}\d[0-9a-z]*")


class SearchMode(enum.Enum):
    AUTO = "auto"
    NAME = "name"
    INITIALS = "initials"
    DIGITS = "digits"
    CODE = "code"


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    """A query resolved to one mode and normalised for it."""

    mode: SearchMode
    text: str

    def condition(self) -> ColumnElement[bool]:
        col = self._column()
        if self.mode is SearchMode.CODE:
            return or_(GuideItemRow.basic_code.startswith(self.text, autoescape=True),
                       GuideItemRow.implementation_code.startswith(self.text, autoescape=True))
        matched: ColumnElement[bool] = col.contains(self.text, autoescape=True)
        return matched

    def order_by(self) -> tuple[Any, ...]:
        if self.mode is SearchMode.CODE:
            return item_order()
        starts = case((self._column().startswith(self.text, autoescape=True), 0), else_=1)
        return (starts, *item_order())

    def matches(self, item: GuideItem) -> bool:
        if self.mode is SearchMode.CODE:
            return item.basic_code.startswith(self.text) or item.implementation_code.startswith(self.text)
        return self.text in self._value(item)

    def sort_key(self, item: GuideItem) -> tuple[Any, ...]:
        if self.mode is SearchMode.CODE:
            return list_order_key(item)
        return (0 if self._value(item).startswith(self.text) else 1, *list_order_key(item))

    def _column(self) -> Any:
        return {SearchMode.NAME: GuideItemRow.search_name, SearchMode.INITIALS: GuideItemRow.initials,
                SearchMode.DIGITS: GuideItemRow.digits, SearchMode.CODE: GuideItemRow.implementation_code}[self.mode]

    def _value(self, item: GuideItem) -> str:
        if self.mode is SearchMode.NAME:
            return fold(item.name)
        return item.initials if self.mode is SearchMode.INITIALS else item.digits


def parse_query(query: str, mode: SearchMode | str = SearchMode.AUTO) -> Query:
    """Resolve ``mode`` and normalise ``query``; ValueError with an exact message when it cannot match."""
    mode = SearchMode(mode)
    text = fold(query)
    if not text:
        raise ValueError("search query is empty")
    if mode is SearchMode.AUTO:
        if _CODE_RE.fullmatch(text):
            mode = SearchMode.CODE
        elif text.isascii() and text.isdigit():
            mode = SearchMode.DIGITS
        elif text.isascii() and text.isalpha():
            mode = SearchMode.INITIALS
        else:
            mode = SearchMode.NAME
    if mode is SearchMode.INITIALS and not re.fullmatch(r"[a-z0-9]+", text):
        raise ValueError(f"initials search expects letters a-z, got {query!r}")
    if mode is SearchMode.DIGITS and not re.fullmatch(r"[0-9]+", text):
        raise ValueError(f"digits search expects the digits 0-9, got {query!r}")
    if mode is SearchMode.CODE:
        if not re.fullmatch(r"[a-z0-9]+", text):
            raise ValueError(f"code search expects letters and digits, got {query!r}")
        text = text.upper()
    return Query(mode, text)


def item_order() -> tuple[Any, ...]:
    """SQL ordering of lists: popularity rank (unranked last), then implementation code."""
    return (case((GuideItemRow.popularity_rank.is_(None), 1), else_=0), GuideItemRow.popularity_rank,
            GuideItemRow.implementation_code)


def list_order_key(item: GuideItem) -> tuple[Any, ...]:
    """The in-memory equivalent of :func:`item_order`."""
    rank = item.popularity_rank
    return (1 if rank is None else 0, rank or 0, item.implementation_code)
