"""Frozen store/catalog views to the JSON the API sends (field names pinned by openapi.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tickets.catalog.schema import GuideItem, Page, Theme
from tickets.views import PublicProgress

__all__ = ["item_detail", "item_summary", "page", "progress", "theme"]


def theme(t: Theme) -> dict[str, Any]:
    return {"code": t.code, "name": t.name, "kind": t.kind.value, "item_count": t.item_count}


def item_summary(i: GuideItem) -> dict[str, Any]:
    return {"code": i.implementation_code, "basic_code": i.basic_code, "name": i.name, "agency": i.agency,
            "item_type": i.item_type.value, "trips": i.trips, "trips_label": i.trips_label,
            "promised_label": i.promised_label, "fee": i.fee, "themes": list(i.themes)}


def item_detail(i: GuideItem) -> dict[str, Any]:
    return {
        **item_summary(i),
        "department_code": i.department_code,
        "conditions": i.conditions,
        "materials": [{"name": m.name, "form": m.form.value, "copies": m.copies, "notes": m.notes}
                      for m in i.materials],
        "steps": [{"name": s.name, "detail": s.detail} for s in i.steps],
        "statutory_limit_days": i.statutory_limit_days,
        "statutory_label": i.statutory_label,
        "promised_limit_days": i.promised_limit_days,
        "fee_basis": i.fee_basis,
        "legal_basis": i.legal_basis,
        "place": i.place,
        "hours": i.hours,
        "consult_phone": i.consult_phone,
        "complaint_phone": i.complaint_phone,
        "online_url": i.online_url,
        "popularity_rank": i.popularity_rank,
        "updated_at": i.updated_at.isoformat() if i.updated_at else None,
    }


def page(p: Page) -> dict[str, Any]:
    return {"items": [item_summary(i) for i in p.items], "total": p.total, "page": p.page,
            "page_size": p.page_size, "pages": p.pages}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def progress(p: PublicProgress) -> dict[str, Any]:
    """Only what a resident may see: never the phone, the transcript, internal notes or staff names."""
    return {
        "number": p.number,
        "kind": p.kind.value,
        "kind_label": p.kind.label_zh,
        "status": p.status.value,
        "status_label": p.status.label_zh,
        "department": p.department,
        "created_at": p.created_at.isoformat(),
        "dispatched_at": _iso(p.dispatched_at),
        "deadline": p.deadline.isoformat(),
        "resolved_at": _iso(p.resolved_at),
        "reply": p.reply,
        "timeline": [
            {"at": e.at.isoformat(), "action": e.action,
             "status": e.to_status.value if e.to_status else None,
             "status_label": e.to_status.label_zh if e.to_status else None, "note": e.note}
            for e in p.timeline if e.public
        ],
    }
