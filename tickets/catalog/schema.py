"""What a service guide (办事指南) is, as frozen dataclasses: the shape the importer validates files into, the
service returns, and the TV API serves from memory. Nothing here touches the database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

__all__ = [
    "THEMES",
    "GuideItem",
    "ImportSummary",
    "ItemType",
    "Material",
    "MaterialForm",
    "Page",
    "Step",
    "Theme",
    "ThemeKind",
    "limit_label",
    "trips_label",
]


class ItemType(enum.Enum):
    """事项类型, with the two letters that start its basic code."""

    LICENSING = "行政许可"
    PUBLIC_SERVICE = "公共服务"
    CONFIRMATION = "行政确认"
    PAYMENT = "行政给付"
    LEVY = "行政征收"
    REWARD = "行政奖励"
    ADJUDICATION = "行政裁决"
    INSPECTION = "行政检查"
    OTHER_POWER = "其他行政权力"

    @property
    def letters(self) -> str:
        return _TYPE_LETTERS[self]

    @property
    def label_zh(self) -> str:
        return self.value


_TYPE_LETTERS = {
    ItemType.LICENSING: "XK",
    ItemType.PUBLIC_SERVICE: "GG",
    ItemType.CONFIRMATION: "QR",
    ItemType.PAYMENT: "JF",
    ItemType.LEVY: "ZS",
    ItemType.REWARD: "JL",
    ItemType.ADJUDICATION: "CJ",
    ItemType.INSPECTION: "JC",
    ItemType.OTHER_POWER: "QT",
}


class MaterialForm(enum.Enum):
    """Whether a material is shown in the original, handed in as a copy, or both."""

    ORIGINAL = "原件"
    COPY = "复印件"
    ORIGINAL_AND_COPY = "原件及复印件"
    ELECTRONIC = "电子材料"


class ThemeKind(enum.Enum):
    AUDIENCE = "audience"  # 个人办事 / 法人办事
    LIFE_EVENT = "life_event"  # 出生, 入学, 就业 …


@dataclasses.dataclass(frozen=True, slots=True)
class Theme:
    code: str
    name: str
    kind: ThemeKind
    position: int
    item_count: int = dataclasses.field(default=0, compare=False)


# The theme vocabulary: files name themes by code or by Chinese name; the importer keeps this table in step.
THEMES: tuple[Theme, ...] = tuple(
    Theme(code, name, kind, position)
    for position, (code, name, kind) in enumerate(
        (
            ("personal", "个人办事", ThemeKind.AUDIENCE),
            ("business", "法人办事", ThemeKind.AUDIENCE),
            ("birth", "出生", ThemeKind.LIFE_EVENT),
            ("household", "户籍", ThemeKind.LIFE_EVENT),
            ("school", "入学", ThemeKind.LIFE_EVENT),
            ("employment", "就业", ThemeKind.LIFE_EVENT),
            ("marriage", "婚育", ThemeKind.LIFE_EVENT),
            ("medical", "医疗", ThemeKind.LIFE_EVENT),
            ("housing", "住房", ThemeKind.LIFE_EVENT),
            ("retirement", "退休", ThemeKind.LIFE_EVENT),
            ("elderly", "养老", ThemeKind.LIFE_EVENT),
            ("social_aid", "社会救助", ThemeKind.LIFE_EVENT),
            ("disability", "助残", ThemeKind.LIFE_EVENT),
            ("veterans", "退役军人", ThemeKind.LIFE_EVENT),
            ("start_business", "开办企业", ThemeKind.LIFE_EVENT),
            ("operation", "经营许可", ThemeKind.LIFE_EVENT),
            ("construction", "工程建设", ThemeKind.LIFE_EVENT),
            ("funeral", "身后事", ThemeKind.LIFE_EVENT),
        ),
        start=1,
    )
)


@dataclasses.dataclass(frozen=True, slots=True)
class Material:
    """申请材料: name, original or copy, number of copies, notes."""

    name: str
    form: MaterialForm
    copies: int = 1
    notes: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One step of 办理流程, in order."""

    name: str
    detail: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class GuideItem:
    """One service item with every guide field. Equality compares the content only (not the derived search
    columns nor the timestamp), which is how an import tells "unchanged" from "updated"."""

    name: str
    basic_code: str
    implementation_code: str
    item_type: ItemType
    agency: str
    department_code: str | None
    conditions: str
    materials: tuple[Material, ...]
    steps: tuple[Step, ...]
    statutory_limit_days: int | None  # None: no statutory limit stated; 0: 即办件
    promised_limit_days: int  # 0: 即办件
    fee: str  # "免费" or the amount
    fee_basis: str | None
    legal_basis: str
    place: str
    hours: str
    consult_phone: str
    complaint_phone: str
    online_url: str | None
    trips: int  # 0 零跑路, 1 仅跑一次, more: that many trips
    themes: tuple[str, ...]  # theme codes, in vocabulary order
    popularity_rank: int | None  # 1 = most asked-for
    initials: str = dataclasses.field(default="", compare=False)
    digits: str = dataclasses.field(default="", compare=False)
    updated_at: dt.datetime | None = dataclasses.field(default=None, compare=False)

    @property
    def is_free(self) -> bool:
        return self.fee == "免费"

    @property
    def trips_label(self) -> str:
        return trips_label(self.trips)

    @property
    def promised_label(self) -> str:
        return limit_label(self.promised_limit_days)

    @property
    def statutory_label(self) -> str:
        return "无" if self.statutory_limit_days is None else limit_label(self.statutory_limit_days)


def trips_label(trips: int) -> str:
    if trips == 0:
        return "零跑路"
    if trips == 1:
        return "仅跑一次"
    return f"跑动{trips}次"


def limit_label(days: int) -> str:
    return "即办件" if days == 0 else f"{days}个工作日"


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """One page of a list or a search; ``page`` counts from 1."""

    items: tuple[GuideItem, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return (self.total + self.page_size - 1) // self.page_size


@dataclasses.dataclass(frozen=True, slots=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int
    revision: int

    def __str__(self) -> str:
        return (f"added {self.added}, updated {self.updated}, unchanged {self.unchanged} "
                f"(catalog revision {self.revision})")
