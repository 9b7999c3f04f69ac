"""What a resident can send from the remote: request kinds, categories and text templates (in Chinese), and
the validation of requests and call-back phone numbers into :class:`tickets.views.NewTicket`."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any

from stb_api.errors import ApiError
from tickets.enums import Channel, Kind
from tickets.views import NewTicket

__all__ = ["CATEGORIES", "KINDS", "TEMPLATES", "Template", "parse_callback", "parse_phone", "parse_request",
           "templates_document"]

# The kinds a TV form offers (举报 needs more detail than a remote can type; it goes through the hotline).
KINDS: tuple[Kind, ...] = (Kind.CONSULTATION, Kind.HELP, Kind.SUGGESTION, Kind.COMPLAINT)
CATEGORIES: tuple[str, ...] = ("社保医保", "户籍证件", "住房物业", "交通出行", "环境卫生", "市场消费", "教育", "民政救助",
                               "农业农村", "水电气", "其他")
CALLBACK_CATEGORY = "回电请求"
MAX_TEXT = 500
_TOWN_RE = re.compile(r"[0-9A-Za-z_-]{1,32}")
_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
_FIXED_RE = re.compile(r"0\d{9,11}")  # area code 0XX / 0XXX + 7-8 digit subscriber number


@dataclasses.dataclass(frozen=True, slots=True)
class Template:
    id: str
    kind: Kind
    category: str
    text: str


TEMPLATES: tuple[Template, ...] = (
    Template("c1", Kind.CONSULTATION, "社保医保", "我想咨询城乡居民医保参保缴费的办理方式和时间。"),
    Template("c2", Kind.CONSULTATION, "户籍证件", "我想咨询办理居民身份证需要准备哪些材料。"),
    Template("c3", Kind.CONSULTATION, "教育", "我想咨询孩子入学报名的时间和需要的材料。"),
    Template("h1", Kind.HELP, "水电气", "我家所在小区停水（停电）了，请帮忙了解原因和恢复时间。"),
    Template("h2", Kind.HELP, "民政救助", "家中老人生活困难，想申请救助，请帮忙联系。"),
    Template("s1", Kind.SUGGESTION, "交通出行", "建议在我家附近增设公交站点或调整班次。"),
    Template("s2", Kind.SUGGESTION, "环境卫生", "建议增加小区周边的垃圾清运次数。"),
    Template("p1", Kind.COMPLAINT, "环境卫生", "附近施工噪音扰民，夜间仍在施工。"),
    Template("p2", Kind.COMPLAINT, "住房物业", "小区物业服务不到位，反映的问题长期没有处理。"),
    Template("p3", Kind.COMPLAINT, "市场消费", "购买的商品有质量问题，商家拒绝退换。"),
)
_BY_ID = {t.id: t for t in TEMPLATES}


def templates_document(towns: Mapping[str, str]) -> dict[str, Any]:
    return {
        "kinds": [{"code": k.value, "label": k.label_zh, "time_limit_working_days": k.time_limit_working_days}
                  for k in KINDS],
        "categories": list(CATEGORIES),
        "templates": [{"id": t.id, "kind": t.kind.value, "category": t.category, "text": t.text} for t in TEMPLATES],
        "towns": [{"code": code, "name": name} for code, name in towns.items()],
        "max_text_length": MAX_TEXT,
    }


def _clean_text(raw: Any, field: str) -> str:
    if not isinstance(raw, str):
        raise ApiError(422, "invalid_field", f"{field}: expected text", extra={"field": field})
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in unicodedata.normalize("NFKC", raw))
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise ApiError(422, "invalid_field", f"{field}: must not be empty", extra={"field": field})
    if len(text) > MAX_TEXT:
        raise ApiError(422, "invalid_field", f"{field}: at most {MAX_TEXT} characters, got {len(text)}",
                       extra={"field": field})
    return text


def _town(raw: Any, towns: Collection[str]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _TOWN_RE.fullmatch(raw) or (towns and raw not in towns):
        raise ApiError(422, "invalid_field", "town_code: not a town or street of the district",
                       extra={"field": "town_code"})
    return raw


def _unknown(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise ApiError(422, "invalid_field", f"{extra[0]}: unknown field", extra={"field": extra[0]})


def parse_phone(raw: Any) -> str:
    """A Chinese mobile (1[3-9] + 9 digits) or fixed line (0 + area code + number), spaces, dashes and a
    +86 prefix allowed; returns the digits."""
    if not isinstance(raw, str) or len(raw) > 32:
        raise ApiError(422, "invalid_phone", "phone: expected a mobile or fixed-line number", extra={"field": "phone"})
    digits = re.sub(r"[\s()-]", "", unicodedata.normalize("NFKC", raw))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not (_MOBILE_RE.fullmatch(digits) or _FIXED_RE.fullmatch(digits)):
        raise ApiError(422, "invalid_phone", "phone: expected a mobile like 13812345678 or a fixed line like "
                                             "028-84851234", extra={"field": "phone"})
    return digits


def parse_request(body: Mapping[str, Any], towns: Collection[str]) -> NewTicket:
    _unknown(body, frozenset({"kind", "category", "town_code", "template_id", "text"}))
    kind_raw = body.get("kind")
    kind = next((k for k in KINDS if k.value == kind_raw), None)
    if kind is None:
        raise ApiError(422, "invalid_field", f"kind: expected one of {', '.join(k.value for k in KINDS)}",
                       extra={"field": "kind"})
    category = body.get("category")
    if category not in CATEGORIES:
        raise ApiError(422, "invalid_field", "category: expected one of the categories in /stb/v1/requests/templates",
                       extra={"field": "category"})
    template_id, text = body.get("template_id"), body.get("text")
    if (template_id is None) == (text is None):
        raise ApiError(422, "invalid_field", "give exactly one of template_id and text", extra={"field": "text"})
    if template_id is not None:
        template = _BY_ID.get(template_id) if isinstance(template_id, str) else None
        if template is None:
            raise ApiError(422, "invalid_field", "template_id: no such template", extra={"field": "template_id"})
        content = template.text
    else:
        content = _clean_text(text, "text")
    return NewTicket(channel=Channel.STB, kind=kind, category=str(category), content=content,
                     town_code=_town(body.get("town_code"), towns))


def parse_callback(body: Mapping[str, Any], towns: Collection[str]) -> NewTicket:
    _unknown(body, frozenset({"phone", "town_code", "text"}))
    phone = parse_phone(body.get("phone"))
    text = body.get("text")
    content = _clean_text(text, "text") if text is not None else "居民通过电视申请回电。"
    return NewTicket(channel=Channel.STB, kind=Kind.CONSULTATION, category=CALLBACK_CATEGORY, content=content,
                     town_code=_town(body.get("town_code"), towns), caller_phone=phone, needs_callback=True)
