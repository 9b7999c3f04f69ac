"""Catalog fixtures: a fresh database on SQLite (a file in tmp_path) and on PostgreSQL (a new database per test
from tests.pgutil, dropped afterwards), with the catalog tables created, and the sample catalog parsed once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pgutil import require_postgres, temporary_database, url_for
from tickets.catalog import Catalog, GuideItem
from tickets.catalog.exporter import item_to_record
from tickets.catalog.importer import read_file
from tickets.config import DatabaseSettings, settings_from_mapping
from tickets.db import create_engine, session_factory
from tickets.migrate import upgrade

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "tickets" / "data" / "guides.yaml"
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new empty database: a SQLite file in ``folder``, or a PostgreSQL database dropped on exit."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'catalog.db'}"
        return
    require_postgres()
    with temporary_database() as name:
        yield url_for(name)


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of each kind."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


async def create_tables(url: str) -> None:
    """Migrate the empty database to head (the catalog's tables come with migration 0002)."""
    await asyncio.to_thread(upgrade, settings_from_mapping({"database": {"url": url}}, PROJECT_ROOT, env={}))


@pytest.fixture
async def catalog(db_url: str) -> AsyncIterator[Catalog]:
    """An empty catalog (tables created) on each database kind."""
    await create_tables(db_url)
    engine = create_engine(DatabaseSettings(url=db_url))
    try:
        yield Catalog(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sample_items() -> tuple[GuideItem, ...]:
    return tuple(read_file(SAMPLE))


async def _load_sample(url: str, items: tuple[GuideItem, ...]) -> None:
    await create_tables(url)
    engine = create_engine(DatabaseSettings(url=url))
    try:
        await Catalog(session_factory(engine)).import_items(items)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", params=KINDS)
def loaded_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               sample_items: tuple[GuideItem, ...]) -> Iterator[str]:
    """A database of each kind with the sample imported, shared by a module's read-only tests."""
    with fresh_database(request.param, tmp_path_factory.mktemp("loaded")) as url:
        asyncio.run(_load_sample(url, sample_items))
        yield url


@pytest.fixture
async def loaded(loaded_url: str) -> AsyncIterator[Catalog]:
    """The catalog with the sample imported (read-only: tests that write use ``catalog``)."""
    engine = create_engine(DatabaseSettings(url=loaded_url))
    try:
        yield Catalog(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture
def good_record(sample_items: tuple[GuideItem, ...]) -> dict[str, Any]:
    """A valid file record (a fresh copy each time) to break one field at a time."""
    return json.loads(json.dumps(item_to_record(sample_items[0]), ensure_ascii=False))
