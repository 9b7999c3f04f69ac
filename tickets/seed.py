"""First-start data for an empty store: departments, the sample service-guide catalog and the holiday
calendars shipped under ``tickets/data``. Each part is loaded only when its table is empty, so a deployment's
own data is never overwritten."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import yaml
from sqlalchemy import func, select

from tickets.catalog.importer import read_file
from tickets.config import Settings
from tickets.errors import StoreError
from tickets.models import CalendarDay, Department
from tickets.store import Store
from tickets.workdays import parse_calendar

__all__ = ["Seeded", "seed_empty"]

log = logging.getLogger(__name__)
DATA = Path(__file__).resolve().parent / "data"


@dataclasses.dataclass(frozen=True, slots=True)
class Seeded:
    departments: int = 0
    guides: int = 0
    calendar_days: int = 0


def _departments(path: Path) -> list[tuple[str, str, str | None]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = data.get("departments") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise StoreError(f"{path}: expected a mapping with a 'departments' list")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not row.get("code") or not row.get("name"):
            raise StoreError(f"{path}: departments[{i}]: expected code and name")
        out.append((str(row["code"]), str(row["name"]), row.get("phone")))
    return out


async def _count(store: Store, model: type) -> int:
    async with store.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def seed_empty(settings: Settings, store: Store, *, data_dir: Path = DATA) -> Seeded:
    departments = guides = days = 0
    if await _count(store, Department) == 0:
        for code, name, phone in _departments(data_dir / "departments.yaml"):
            await store.people.add_department(code, name, phone)
            departments += 1
    if not (await store.catalog.snapshot()).items and settings.paths.sample_catalog.is_file():
        summary = await store.catalog.import_items(read_file(settings.paths.sample_catalog))
        guides = summary.added
    if await _count(store, CalendarDay) == 0:
        for path in sorted(data_dir.glob("calendar-*.yaml")):
            days += await store.tickets.load_calendar(
                parse_calendar(yaml.safe_load(path.read_text(encoding="utf-8")), str(path)))
    seeded = Seeded(departments, guides, days)
    if seeded != Seeded():
        log.info("empty store seeded: %d departments, %d guides, %d calendar days", departments, guides, days)
    return seeded
