"""PostgreSQL's hot look-ups on asyncpg directly.

The SQL is compiled once from the same SQLAlchemy statements the rest of the store uses (so there is one
definition of each query), prepared and cached by asyncpg, and run on a small pool of its own. Rows come back
as asyncpg Records: enum columns hold their string values, which :func:`tickets.reads.row_view` accepts.
This path serves ticket look-ups and progress queries, the reads the hotline and the TV make most."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement

__all__ = ["FastConnection", "FastReads"]


async def _no_reset(_conn: asyncpg.Connection) -> None:
    return None


class FastConnection:
    def __init__(self, conn: asyncpg.Connection, sql: Callable[[ClauseElement], tuple[str, tuple[str, ...]]]
                 ) -> None:
        self._conn = conn
        self._sql = sql

    async def fetch(self, stmt: ClauseElement, params: Mapping[str, Any]) -> Sequence[asyncpg.Record]:
        sql, names = self._sql(stmt)
        return await self._conn.fetch(sql, *(params[n] for n in names))

    async def fetchrow(self, stmt: ClauseElement, params: Mapping[str, Any]) -> asyncpg.Record | None:
        sql, names = self._sql(stmt)
        return await self._conn.fetchrow(sql, *(params[n] for n in names))


class FastReads:
    def __init__(self, url: str, *, pool_size: int) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._dialect = asyncpg_dialect.dialect()
        self._compiled: dict[int, tuple[ClauseElement, str, tuple[str, ...]]] = {}

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    # Read-only autocommit queries leave no session state behind, so the pool's reset
                    # round trip on every release is skipped.
                    self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._pool_size,
                                                           reset=_no_reset)
        return self._pool

    def _sql(self, stmt: ClauseElement) -> tuple[str, tuple[str, ...]]:
        # Keyed by the statement object, which lives for the process (module-level statements only); the
        # statement is kept in the value so that its id cannot be reused by another object.
        entry = self._compiled.get(id(stmt))
        if entry is None:
            compiled = stmt.compile(dialect=self._dialect)
            entry = (stmt, str(compiled), tuple(compiled.positiontup or ()))
            self._compiled[id(stmt)] = entry
        return entry[1], entry[2]

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[FastConnection]:
        """One pooled connection for the queries of one look-up."""
        async with (await self._get_pool()).acquire() as conn:
            yield FastConnection(conn, self._sql)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
