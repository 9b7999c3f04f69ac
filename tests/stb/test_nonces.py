"""Replay protection stores: in memory (expiry, bound) and on the Redis server at 127.0.0.1:6379."""

from __future__ import annotations

import secrets

import pytest

from stb_api.nonces import MemoryNonceStore, RedisNonceStore
from stb_api.ratelimit import RateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_memory_nonces_expire() -> None:
    now = [100.0]
    store = MemoryNonceStore(clock=lambda: now[0])
    assert await store.add("1:a", 10)
    assert not await store.add("1:a", 10)
    assert await store.add("2:a", 10)  # nonces are per device
    now[0] += 11
    assert await store.add("1:a", 10)
    assert len(store) == 1  # the expired ones were pruned


async def test_memory_nonces_bounded() -> None:
    store = MemoryNonceStore(max_entries=2, clock=lambda: 0.0)
    await store.add("a", 10)
    await store.add("b", 10)
    with pytest.raises(OverflowError, match="^more than 2 live nonces$"):
        await store.add("c", 10)


async def test_redis_nonces() -> None:
    redis_asyncio = pytest.importorskip("redis.asyncio")
    probe = redis_asyncio.from_url(REDIS_URL)
    try:
        await probe.ping()
    except OSError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    finally:
        await probe.aclose()
    store = RedisNonceStore(REDIS_URL, prefix=f"test:stb:{secrets.token_hex(4)}:")
    try:
        key = f"1:{secrets.token_hex(8)}"
        assert await store.add(key, 5)
        assert not await store.add(key, 5)
    finally:
        await store.close()


def test_rate_limiter_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert all(limiter.hit("a") == 0 for _ in range(60))
    assert limiter.hit("a") == 1
    now[0] += 1.0
    assert limiter.hit("a") == 0
    assert limiter.hit("b") == 0


def test_rate_limiter_forgets_full_buckets() -> None:
    now = [0.0]
    limiter = RateLimiter(60, max_keys=2, clock=lambda: now[0])
    limiter.hit("a")
    limiter.hit("b")
    now[0] += 120
    assert limiter.hit("c") == 0
    assert len(limiter._buckets) == 1  # noqa: SLF001  (the refilled buckets were dropped)
