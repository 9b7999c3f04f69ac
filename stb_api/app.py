"""The STB application: ``create_app(settings, store)``; ``hotline serve`` mounts it on ``web.port``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import yaml
from aiohttp import web

from stb_api import routes_admin, routes_api, tv
from stb_api.auth import Authenticator
from stb_api.catalog_cache import CatalogCache
from stb_api.devices import DeviceRegistry
from stb_api.httputil import dumps
from stb_api.keys import ADDRESS_LIMIT, AUTH, CATALOG, DEVICE_LIMIT, DEVICES, OPENAPI, SETTINGS, STORE, TOWNS
from stb_api.middleware import guard
from stb_api.nonces import MemoryNonceStore, NonceStore, RedisNonceStore
from stb_api.openapi import build_document
from stb_api.ratelimit import RateLimiter
from tickets.config import Settings
from tickets.store import Store

__all__ = ["create_app", "load_towns"]

log = logging.getLogger(__name__)


def load_towns(path: Path) -> dict[str, str]:
    """Town/street codes and names from the district file (``towns: [{code, name}, ...]``); empty when the
    file is absent or has no such list, in which case any well-formed town code is accepted."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("cannot read towns from %s: %s", path, exc)
        return {}
    towns = data.get("towns") if isinstance(data, dict) else None
    if not isinstance(towns, list):
        return {}
    return {str(t["code"]): str(t["name"]) for t in towns if isinstance(t, dict) and "code" in t and "name" in t}


def create_app(settings: Settings, store: Store, *, nonces: NonceStore | None = None) -> web.Application:
    if store.catalog is None:
        raise RuntimeError("the STB API needs the guide catalog (tickets.catalog) in the store")
    app = web.Application(middlewares=[guard], client_max_size=settings.web.max_body_bytes)
    app[SETTINGS] = settings
    app[STORE] = store
    app[DEVICES] = DeviceRegistry(store.sessions, settings.security.secret_key)
    app[CATALOG] = CatalogCache(store.catalog, settings.stb.catalog_check_s)  # type: ignore[arg-type]
    app[DEVICE_LIMIT] = RateLimiter(settings.stb.rate_limit_per_device_per_min)
    app[ADDRESS_LIMIT] = RateLimiter(settings.stb.rate_limit_per_address_per_min)
    app[TOWNS] = load_towns(settings.paths.district_file)
    routes_api.add_routes(app)
    routes_admin.add_routes(app)
    tv.add_routes(app)
    app[OPENAPI] = dumps(build_document())

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        store_ = nonces
        if store_ is None:
            store_ = (RedisNonceStore(settings.stb.redis_url) if settings.stb.nonce_store == "redis"
                      else MemoryNonceStore())
        app[AUTH] = Authenticator(app[DEVICES], settings.security.secret_key, settings.stb, store_)
        log.info("STB API ready (nonces in %s)", type(store_).__name__)
        try:
            yield
        finally:
            await store_.close()

    app.cleanup_ctx.append(lifetime)
    return app
