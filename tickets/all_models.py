"""Imports every module that declares tables, so that Base.metadata knows them all (migrations, tests)."""

from __future__ import annotations

import importlib

from tickets import models  # noqa: F401  (imported for its tables)

# Packages written alongside the store declare tables of their own; import them when present.
for _name in ("tickets.catalog.models", "stb_api.models"):
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while a package is absent
        if _exc.name != _name:
            raise
