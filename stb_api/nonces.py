"""Replay protection: a nonce is accepted once within ``nonce_ttl_s``. In memory per process (the embedded
default) or in Redis (``stb.nonce_store: redis``) when several processes serve the API."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["MemoryNonceStore", "NonceStore", "RedisNonceStore"]

log = logging.getLogger(__name__)


class NonceStore(Protocol):
    async def add(self, key: str, ttl_s: float) -> bool:
        """Remember ``key`` for ``ttl_s``; False when it was already there (a replay)."""

    async def close(self) -> None: ...


class MemoryNonceStore:
    def __init__(self, *, max_entries: int = 1_000_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[str, float] = {}
        self._max_entries = max_entries
        self._clock = clock
        self._next_prune = 0.0

    def __len__(self) -> int:
        return len(self._seen)

    async def add(self, key: str, ttl_s: float) -> bool:
        now = self._clock()
        if now >= self._next_prune or len(self._seen) >= self._max_entries:
            self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            self._next_prune = now + 1.0
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        if len(self._seen) >= self._max_entries:
            raise OverflowError(f"more than {self._max_entries} live nonces")
        self._seen[key] = now + ttl_s
        return True

    async def close(self) -> None:
        self._seen.clear()


class RedisNonceStore:
    """``SET key 1 NX EX ttl`` on a Redis server shared by every API process."""

    def __init__(self, url: str, *, prefix: str = "hotline:stb:nonce:") -> None:
        import redis.asyncio as redis_asyncio  # optional dependency, only for this store

        self._redis: Any = redis_asyncio.from_url(url)
        self._prefix = prefix

    async def add(self, key: str, ttl_s: float) -> bool:
        return bool(await self._redis.set(self._prefix + key, b"1", nx=True, ex=max(int(ttl_s), 1)))

    async def close(self) -> None:
        await self._redis.aclose()
