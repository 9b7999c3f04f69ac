"""The migrations at head create exactly what the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import tickets.all_models  # noqa: F401  (registers every table)
from tickets.config import Settings
from tickets.db import Base, sync_url


def test_models_and_migrations_agree(db_settings: Settings) -> None:
    engine = create_engine(sync_url(db_settings.database.url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
