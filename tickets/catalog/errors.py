"""The catalog's exceptions: one root, and the import error that carries every bad row."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CatalogError", "CatalogImportError"]


class CatalogError(Exception):
    """Root of the service-guide catalog's errors."""


class CatalogImportError(CatalogError, ValueError):
    """A file cannot be imported; ``errors`` lists every problem (one line each, "row N, field F: …")."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(self.errors))
