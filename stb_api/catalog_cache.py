"""The catalog as the TV API serves it: an in-memory :class:`CatalogSnapshot`, refreshed when an import bumps
the catalog revision (checked at most every ``stb.catalog_check_s``), plus the encoded JSON bodies of the
responses already served at this revision."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

from tickets.catalog.service import Catalog, CatalogSnapshot

__all__ = ["CatalogCache"]

log = logging.getLogger(__name__)


class CatalogCache:
    def __init__(self, catalog: Catalog, check_s: float, *, max_bodies: int = 4096,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._catalog = catalog
        self._check_s = check_s
        self._monotonic = monotonic
        self._snapshot: CatalogSnapshot | None = None
        self._checked_at = float("-inf")
        self._refreshing: asyncio.Future[CatalogSnapshot] | None = None
        self._bodies: dict[Hashable, bytes] = {}
        self._max_bodies = max_bodies

    async def snapshot(self) -> CatalogSnapshot:
        """The current snapshot. When a check is due, the request that notices waits for it (one cheap revision
        query, plus a reload if an import changed the catalog); requests arriving meanwhile keep the snapshot they
        have instead of piling up behind it."""
        snap = self._snapshot
        if snap is not None and self._monotonic() - self._checked_at < self._check_s:
            return snap
        running = self._refreshing
        if running is not None:
            return snap if snap is not None else await asyncio.shield(running)
        task = asyncio.ensure_future(self._refresh())
        self._refreshing = task
        task.add_done_callback(self._refreshed)
        return await asyncio.shield(task)

    def _refreshed(self, task: asyncio.Future[CatalogSnapshot]) -> None:
        self._refreshing = None
        if not task.cancelled() and task.exception() is not None:
            log.error("catalog refresh failed: %s", task.exception())

    async def _refresh(self) -> CatalogSnapshot:
        revision = await self._catalog.revision()
        if self._snapshot is None or revision != self._snapshot.revision:
            fresh = await self._catalog.snapshot()
            log.info("catalog snapshot: revision %d, %d items", fresh.revision, len(fresh.items))
            self._snapshot = fresh
            self._bodies = {}
        self._checked_at = self._monotonic()
        return self._snapshot

    def body(self, snap: CatalogSnapshot, key: Hashable, build: Callable[[], Any],
             encode: Callable[[Any], bytes]) -> bytes:
        """The encoded body for ``key`` at ``snap``'s revision, built once."""
        full_key = (snap.revision, key)
        cached = self._bodies.get(full_key)
        if cached is None:
            cached = encode(build())
            if len(self._bodies) >= self._max_bodies:
                self._bodies = {}
            self._bodies[full_key] = cached
        return cached
