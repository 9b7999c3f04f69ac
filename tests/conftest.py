"""Shared fixtures: settings on a temporary folder, and a guard that fails a test that leaks threads or
child processes (as python-zeroconf's tests do)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickets.config import Settings, settings_from_mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("HOTLINE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [
        t for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and not t.daemon and t is not threading.current_thread()
    ]
    for t in leaked:
        t.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test leaked threads: {still}"


@pytest.fixture
def tmp_settings(tmp_path: Path) -> Settings:
    """Settings whose data lives under tmp_path, on a SQLite file there, with the project's data files."""
    data = {
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"},
        "paths": {
            "data_dir": str(tmp_path),
            "recordings_dir": str(tmp_path / "recordings"),
            "prompt_cache_dir": str(PROJECT_ROOT / "var" / "test-prompts"),
            "run_dir": str(tmp_path / "run"),
            "district_file": str(PROJECT_ROOT / "tickets" / "data" / "district.yaml"),
            "sample_catalog": str(PROJECT_ROOT / "tickets" / "data" / "guides.yaml"),
        },
        "ivr": {"menu_file": str(PROJECT_ROOT / "menus" / "main.yaml"),
                "prompts_dir": str(PROJECT_ROOT / "menus" / "prompts" / "zh")},
        "security": {"secret_key": "test-secret-key-0123456789", "admin_token": "test-admin-token"},
    }
    return settings_from_mapping(data, PROJECT_ROOT, env={})


# --------------------------------------------------------------------------- databases
from tests import pgutil  # noqa: E402  (kept next to the fixtures that use it)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated to head once per session; tests clone it."""
    pgutil.require_postgres()
    from tickets.migrate import upgrade

    name = pgutil.create_database()
    try:
        upgrade(settings_from_mapping({"database": {"url": pgutil.url_for(name)}}, PROJECT_ROOT, env={}))
        yield name
    finally:
        pgutil.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def db_settings(request: pytest.FixtureRequest, tmp_settings: Settings) -> Iterator[Settings]:
    """Settings on a freshly migrated database: a SQLite file, then a PostgreSQL clone."""
    import dataclasses

    from tickets.migrate import upgrade

    if request.param == "sqlite":
        upgrade(tmp_settings)
        yield tmp_settings
        return
    template = request.getfixturevalue("pg_template")
    with pgutil.temporary_database(template) as name:
        yield tmp_settings.replace(database=dataclasses.replace(tmp_settings.database, url=pgutil.url_for(name)))


@pytest.fixture
async def store(db_settings: Settings):  # type: ignore[no-untyped-def]
    from tickets.store import Store

    s = Store(db_settings)
    try:
        yield s
    finally:
        await s.close()
