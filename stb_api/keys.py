"""Objects shared through the application (``app[KEY]``), typed with :class:`aiohttp.web.AppKey`."""

from __future__ import annotations

from aiohttp import web

from stb_api.auth import Authenticator
from stb_api.catalog_cache import CatalogCache
from stb_api.devices import DeviceRegistry
from stb_api.ratelimit import RateLimiter
from tickets.config import Settings
from tickets.store import Store

__all__ = ["ADDRESS_LIMIT", "AUTH", "CATALOG", "DEVICE_LIMIT", "DEVICES", "OPENAPI", "SETTINGS", "STORE", "TOWNS"]

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
DEVICES = web.AppKey("devices", DeviceRegistry)
AUTH = web.AppKey("auth", Authenticator)
CATALOG = web.AppKey("catalog", CatalogCache)
DEVICE_LIMIT = web.AppKey("device_limit", RateLimiter)
ADDRESS_LIMIT = web.AppKey("address_limit", RateLimiter)
OPENAPI = web.AppKey("openapi", bytes)
TOWNS = web.AppKey("towns", dict)
