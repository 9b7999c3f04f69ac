"""The STB API's exceptions. :class:`StbError` is the root; :class:`ApiError` carries the HTTP status and the
stable error code every JSON error body names: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ApiError", "DeviceError", "StbError"]


class StbError(Exception):
    """Root of the STB package's errors."""


class DeviceError(StbError, ValueError):
    """A device registration is malformed or conflicts with an existing one."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ApiError(StbError):
    """An error answered to the client as JSON with ``status`` and a stable ``code``."""

    def __init__(self, status: int, code: str, message: str, *, extra: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}
