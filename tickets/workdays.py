"""Working-day arithmetic on the district's calendar: Monday to Friday, less holidays, plus adjusted working
weekends (调休), as loaded by an admin into ``calendar_days``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

__all__ = ["WorkCalendar", "parse_calendar"]


@dataclasses.dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Exceptions to the ordinary week: ``overrides[day]`` is True for a working day, False for a holiday."""

    overrides: Mapping[dt.date, bool] = dataclasses.field(default_factory=dict)

    def is_working(self, day: dt.date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The date on which a time limit of ``days`` working days ends for a matter taken in on ``start``.

        The day of intake does not count; the limit runs from the next working day, so a complaint taken on a
        Friday with a 3-day limit is due on Wednesday."""
        if days < 0:
            raise ValueError(f"working days must not be negative, got {days}")
        day = start
        left = days
        while left:
            day += dt.timedelta(days=1)
            if self.is_working(day):
                left -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working(day):
                count += 1
        return count


def parse_calendar(data: Any, source: str) -> list[tuple[dt.date, bool, str]]:
    """``{holidays: [{date|from+to, name}], workdays: [{date, name}]}`` into calendar rows."""
    if not isinstance(data, dict) or not set(data) <= {"holidays", "workdays"}:
        raise ValueError(f"{source}: expected a mapping with 'holidays' and/or 'workdays'")
    rows: list[tuple[dt.date, bool, str]] = []
    for key, working in (("holidays", False), ("workdays", True)):
        for i, entry in enumerate(data.get(key) or []):
            where = f"{source}: {key}[{i}]"
            if not isinstance(entry, dict):
                raise ValueError(f"{where}: expected a mapping with date or from/to")
            name = str(entry.get("name", ""))
            try:
                if "date" in entry:
                    days = [dt.date.fromisoformat(str(entry["date"]))]
                else:
                    start = dt.date.fromisoformat(str(entry["from"]))
                    end = dt.date.fromisoformat(str(entry["to"]))
                    if end < start:
                        raise ValueError(f"{where}: 'to' is before 'from'")
                    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
            except KeyError as exc:
                raise ValueError(f"{where}: missing {exc.args[0]!r}") from exc
            except (TypeError, ValueError) as exc:
                if str(exc).startswith(where):
                    raise
                raise ValueError(f"{where}: expected dates as YYYY-MM-DD ({exc})") from exc
            rows.extend((day, working, name) for day in days)
    return rows
