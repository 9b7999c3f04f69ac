"""The 0003 migration creates exactly the table stb_api.models declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

import tickets.all_models  # noqa: F401  (every table on the metadata)
from tests.stb.helpers import SQLITE_ONLY
from tickets.config import Settings
from tickets.db import Base, sync_url


def _stb_diffs(url: str) -> list[object]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    return [d for d in diffs if "stb_devices" in repr(d)]


async def test_migration_matches_model(db_settings: Settings) -> None:
    assert _stb_diffs(db_settings.database.url) == []


@SQLITE_ONLY
def test_downgrade_and_upgrade(db_settings: Settings) -> None:
    from tickets.migrate import current_revision, upgrade

    assert current_revision(db_settings) is not None
    from alembic import command

    from tickets.migrate import alembic_config

    command.downgrade(alembic_config(db_settings.database.url), "0002")
    upgrade(db_settings)
    assert _stb_diffs(db_settings.database.url) == []
