"""Working-day arithmetic on the district's calendar: Monday to Friday, less holidays, plus adjusted working
weekends (调休), as loaded by an admin into ``calendar_days``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

__all__ = ["WorkCalendar"]


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
