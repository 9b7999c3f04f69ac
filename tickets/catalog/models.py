"""ORM tables of the service-guide catalog on the shared :class:`tickets.db.Base`.

Search columns are written with the row: ``search_name`` (NFKC, lower case), ``initials`` (pinyin initials) and
``digits`` (their TV-remote keys), so search is plain ``LIKE`` on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Enum, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tickets.catalog.pinyin import fold
from tickets.catalog.schema import GuideItem, ItemType, Material, MaterialForm, Step, ThemeKind
from tickets.db import Base, UtcDateTime

__all__ = ["CATALOG_TABLES", "CatalogRevision", "GuideItemRow", "GuideMaterialRow", "GuideStepRow",
           "GuideThemeRow", "item_themes"]

item_themes = Table(
    "guide_item_themes",
    Base.metadata,
    Column("item_id", ForeignKey("guide_items.id", ondelete="CASCADE"), primary_key=True),
    Column("theme_code", ForeignKey("guide_themes.code", ondelete="CASCADE"), primary_key=True, index=True),
)


class GuideThemeRow(Base):
    __tablename__ = "guide_themes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    kind: Mapped[ThemeKind] = mapped_column(Enum(ThemeKind, native_enum=False, length=16))
    position: Mapped[int] = mapped_column(Integer)


class GuideItemRow(Base):
    __tablename__ = "guide_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implementation_code: Mapped[str] = mapped_column(String(60), unique=True)
    basic_code: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(100))
    search_name: Mapped[str] = mapped_column(String(100), index=True)
    initials: Mapped[str] = mapped_column(String(200), index=True)
    digits: Mapped[str] = mapped_column(String(200), index=True)
    item_type: Mapped[ItemType] = mapped_column(Enum(ItemType, native_enum=False, length=32))
    agency: Mapped[str] = mapped_column(String(100), index=True)
    department_code: Mapped[str | None] = mapped_column(String(32), index=True)
    conditions: Mapped[str] = mapped_column(Text)
    statutory_limit_days: Mapped[int | None] = mapped_column(Integer)
    promised_limit_days: Mapped[int] = mapped_column(Integer)
    fee: Mapped[str] = mapped_column(String(200))
    fee_basis: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(String(200))
    hours: Mapped[str] = mapped_column(String(200))
    consult_phone: Mapped[str] = mapped_column(String(20))
    complaint_phone: Mapped[str] = mapped_column(String(20))
    online_url: Mapped[str | None] = mapped_column(String(500))
    trips: Mapped[int] = mapped_column(Integer, index=True)
    popularity_rank: Mapped[int | None] = mapped_column(Integer, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    materials: Mapped[list[GuideMaterialRow]] = relationship(
        order_by="GuideMaterialRow.position", cascade="all, delete-orphan", lazy="selectin"
    )
    steps: Mapped[list[GuideStepRow]] = relationship(
        order_by="GuideStepRow.position", cascade="all, delete-orphan", lazy="selectin"
    )
    themes: Mapped[list[GuideThemeRow]] = relationship(secondary=item_themes, lazy="selectin")

    def to_item(self) -> GuideItem:
        """The frozen view of this row (relationships must be loaded)."""
        return GuideItem(
            name=self.name, basic_code=self.basic_code, implementation_code=self.implementation_code,
            item_type=self.item_type, agency=self.agency, department_code=self.department_code,
            conditions=self.conditions,
            materials=tuple(Material(m.name, m.form, m.copies, m.notes) for m in self.materials),
            steps=tuple(Step(s.name, s.detail) for s in self.steps),
            statutory_limit_days=self.statutory_limit_days, promised_limit_days=self.promised_limit_days,
            fee=self.fee, fee_basis=self.fee_basis, legal_basis=self.legal_basis, place=self.place,
            hours=self.hours, consult_phone=self.consult_phone, complaint_phone=self.complaint_phone,
            online_url=self.online_url, trips=self.trips,
            themes=tuple(t.code for t in sorted(self.themes, key=lambda t: t.position)),
            popularity_rank=self.popularity_rank, initials=self.initials, digits=self.digits,
            updated_at=self.updated_at,
        )

    def assign(self, item: GuideItem, themes: dict[str, GuideThemeRow], now: dt.datetime) -> None:
        """Overwrite every column and child row with ``item``'s content."""
        for name in ("implementation_code", "basic_code", "name", "item_type", "agency", "department_code",
                     "conditions", "statutory_limit_days", "promised_limit_days", "fee", "fee_basis",
                     "legal_basis", "place", "hours", "consult_phone", "complaint_phone", "online_url", "trips",
                     "popularity_rank", "initials", "digits"):
            setattr(self, name, getattr(item, name))
        self.search_name = fold(item.name)
        self.materials = [
            GuideMaterialRow(position=i, name=m.name, form=m.form, copies=m.copies, notes=m.notes)
            for i, m in enumerate(item.materials, start=1)
        ]
        self.steps = [GuideStepRow(position=i, name=s.name, detail=s.detail) for i, s in enumerate(item.steps, 1)]
        self.themes = [themes[code] for code in item.themes]
        self.updated_at = now


class GuideMaterialRow(Base):
    __tablename__ = "guide_materials"
    __table_args__ = (UniqueConstraint("item_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("guide_items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    form: Mapped[MaterialForm] = mapped_column(Enum(MaterialForm, native_enum=False, length=32))
    copies: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(String(500))


class GuideStepRow(Base):
    __tablename__ = "guide_steps"
    __table_args__ = (UniqueConstraint("item_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("guide_items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(String(1000))


class CatalogRevision(Base):
    """One row (id 1): bumped by every import that changes something; HTTP serves it as the ETag."""

    __tablename__ = "catalog_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# In creation order (parents first).
CATALOG_TABLES: tuple[Table, ...] = tuple(
    Base.metadata.tables[name]
    for name in ("guide_themes", "guide_items", "guide_item_themes", "guide_materials", "guide_steps",
                 "catalog_revision")
)
