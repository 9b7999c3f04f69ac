"""Fixtures of the STB API tests: a store with the sample catalog on both databases (migrated by the
``db_settings`` fixture: 0001 tickets, 0002 catalog, 0003 STB devices), the app, signed-in boxes."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stb_api.app import create_app
from tests.stb.helpers import ADMIN, Box, register_box
from tickets.catalog.importer import read_file
from tickets.config import Settings
from tickets.store import Store

SAMPLE = Path(__file__).resolve().parent / "guides_sample.yaml"


async def open_store(settings: Settings) -> Store:
    store = Store(settings)
    await store.catalog.import_items(read_file(SAMPLE))  # type: ignore[union-attr]
    return store


@pytest.fixture
def stb_settings(db_settings: Settings) -> Settings:
    """The test settings with the catalog revision checked on every request (so an import shows at once)."""
    return db_settings.replace(stb=dataclasses.replace(db_settings.stb, catalog_check_s=0.0))


@pytest.fixture
async def stb_store(stb_settings: Settings) -> AsyncIterator[Store]:
    store = await open_store(stb_settings)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def client(aiohttp_client: Any, stb_settings: Settings, stb_store: Store) -> Any:
    return await aiohttp_client(create_app(stb_settings, stb_store))


@pytest.fixture
async def box(client: Any) -> Box:
    """A registered, signed-in box."""
    return await register_box(client, "STB0001A", "00:1a:2b:3c:4d:5e", town_code="510112001000")


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}
