"""Alembic migrations, run programmatically: ``hotline db upgrade`` and ``hotline serve`` on an empty database."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from tickets.config import Settings
from tickets.db import sync_url

__all__ = ["alembic_config", "current_revision", "upgrade"]

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the configured database to ``revision`` (creating the SQLite file's folder if needed)."""
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    alembic_log = logging.getLogger("alembic")
    if not alembic_log.isEnabledFor(logging.DEBUG):
        alembic_log.setLevel(logging.WARNING)  # its INFO lines ("Context impl …") are noise for operators
    command.upgrade(alembic_config(settings.database.url), revision)


def current_revision(settings: Settings) -> str | None:
    engine = create_sync_engine(sync_url(settings.database.url))
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        engine.dispose()
