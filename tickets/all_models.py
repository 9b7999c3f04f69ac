"""Imports every module that declares tables, so that Base.metadata knows them all (migrations, tests)."""

from __future__ import annotations

from stb_api import models as stb_models  # noqa: F401  (imported for its tables)
from tickets import models  # noqa: F401  (imported for its tables)
from tickets.catalog import models as catalog_models  # noqa: F401  (imported for its tables)
