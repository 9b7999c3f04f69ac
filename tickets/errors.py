"""The store's exceptions; :class:`StoreError` is the root every caller can catch."""

from __future__ import annotations

import datetime as dt

from tickets.enums import Status

__all__ = [
    "ClaimConflict",
    "DeadlineError",
    "IllegalTransition",
    "NotFound",
    "QueryLockedError",
    "StoreError",
    "TicketNotFound",
    "WrongExtractionCode",
]


class StoreError(Exception):
    """Root of the ticket store's errors."""


class NotFound(StoreError):
    pass


class TicketNotFound(NotFound):
    def __init__(self, number: str) -> None:
        super().__init__(f"no ticket {number}")
        self.number = number


class IllegalTransition(StoreError):
    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"illegal transition: {current.value} -> {target.value}")
        self.current = current
        self.target = target


class DeadlineError(StoreError):
    pass


class ClaimConflict(StoreError):
    pass


class WrongExtractionCode(StoreError):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong extraction code, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class QueryLockedError(StoreError):
    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"queries on this ticket are locked until {until.isoformat()}")
        self.until = until
