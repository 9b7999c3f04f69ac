"""Engine and session factory for the shared store, on SQLite (WAL) or PostgreSQL.

SQLite gets WAL, foreign keys and a busy timeout on every connection, and ``BEGIN IMMEDIATE`` for write
transactions so that two writers never deadlock on a lock upgrade.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from tickets.config import DatabaseSettings
from tickets.fastpg import FastReads

T = TypeVar("T")

__all__ = ["Base", "Database", "UtcDateTime", "create_engine", "is_sqlite", "session_factory", "sync_url"]

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sync_url(url: str) -> str:
    """The synchronous-driver URL for the same database (Alembic and the raw-driver benchmark use it)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return str(u.set(drivername="sqlite"))
    return u.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def create_engine(settings: DatabaseSettings, *, reader: bool = False) -> AsyncEngine:
    """An async engine for the configured database (plain BEGIN on SQLite: the ticket writes that must queue
    on the write lock go through :class:`Database`); a ``reader`` engine runs in autocommit mode (each SELECT sees the latest committed WAL snapshot, with no
    BEGIN/ROLLBACK round trips); it must only read."""
    url = make_url(settings.url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=settings.echo, connect_args={"timeout": settings.busy_timeout_ms / 1000},
                                     **({"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if reader else {}))
        _configure_sqlite(engine, settings.busy_timeout_ms, begin=None if reader else "BEGIN")
        return engine
    extra = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if reader else {}
    return create_async_engine(
        url, echo=settings.echo, pool_size=settings.pool_size, max_overflow=settings.pool_size, pool_recycle=1800,
        **extra,
    )


def _configure_sqlite(engine: AsyncEngine | Engine, busy_timeout_ms: int, *, begin: str | None) -> None:
    """WAL, foreign keys and a busy timeout on every connection; ``begin`` is the statement that opens a
    transaction (``BEGIN IMMEDIATE`` for the store's writer, ``BEGIN`` elsewhere) or None in autocommit."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) instead of pysqlite's implicit transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    if begin is None:
        return

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: concurrent writers queue on busy_timeout instead of
        # failing with "database is locked" when a read transaction tries to upgrade. Plain BEGIN lets
        # read-mostly transactions (catalog, people) run beside the writer on the WAL snapshot.
        conn.exec_driver_sql(begin)


class Database:
    """Runs the store's synchronous SQLAlchemy code for async callers: ``write(fn)`` gives ``fn`` an ORM
    Session inside one transaction that commits when ``fn`` returns; ``read(fn)`` gives it an autocommit
    Connection.

    SQLite: on threads owned by the store (one writer, a few readers) over pysqlite, so that a whole
    transaction costs one thread hop instead of one per statement; the writer takes the write lock at BEGIN.
    PostgreSQL: reads likewise on reader threads (psycopg2, autocommit); writes on the async engine (asyncpg)
    through ``run_sync``, where many transactions may run at once."""

    def __init__(self, settings: DatabaseSettings, *, reader_threads: int = 4) -> None:
        url = make_url(settings.url)
        self.fast: FastReads | None = None  # PostgreSQL: hot look-ups on asyncpg (tickets.fastpg)
        self._executors: list[concurrent.futures.ThreadPoolExecutor] = []
        self._engines: list[Engine] = []
        self._async_engines: list[AsyncEngine] = []
        if url.get_backend_name() == "sqlite":
            args = {"check_same_thread": False, "timeout": settings.busy_timeout_ms / 1000}
            writer = create_sync_engine(url.set(drivername="sqlite"), connect_args=args, pool_size=1)
            _configure_sqlite(writer, settings.busy_timeout_ms, begin="BEGIN IMMEDIATE")
            reader = create_sync_engine(url.set(drivername="sqlite"), connect_args=args, pool_size=reader_threads,
                                        isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
            _configure_sqlite(reader, settings.busy_timeout_ms, begin=None)
            self._engines = [writer, reader]
            self._write_pool: concurrent.futures.ThreadPoolExecutor | None = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="store-writer")
            self._read_pool = concurrent.futures.ThreadPoolExecutor(reader_threads, thread_name_prefix="store-reader")
            self._executors = [self._write_pool, self._read_pool]
            self._sync_sessions = sessionmaker(writer, expire_on_commit=False)
            self._sync_reader: Engine | None = reader
        else:
            # Reads: psycopg2 on the reader threads (one thread hop per look-up); writes: asyncpg via run_sync.
            reader = create_sync_engine(sync_url(settings.url), isolation_level="AUTOCOMMIT", pool_size=reader_threads,
                                        pool_reset_on_return=None, pool_recycle=1800)
            self._engines = [reader]
            self._sync_reader = reader
            self._read_pool = concurrent.futures.ThreadPoolExecutor(reader_threads, thread_name_prefix="store-reader")
            self._executors = [self._read_pool]
            writer_async = create_engine(settings)
            self._async_engines = [writer_async]
            self._async_sessions = async_sessionmaker(writer_async, expire_on_commit=False)
            self._write_pool = None
            self.fast = FastReads(settings.url, pool_size=settings.pool_size)

    def _write_sync(self, fn: Callable[[Session], T]) -> T:
        with self._sync_sessions.begin() as session:
            return fn(session)

    def _read_sync(self, fn: Callable[[Connection], T]) -> T:
        assert self._sync_reader is not None
        with self._sync_reader.connect() as conn:
            return fn(conn)

    async def write(self, fn: Callable[[Session], T]) -> T:
        if self._write_pool is not None:
            return await asyncio.get_running_loop().run_in_executor(self._write_pool, self._write_sync, fn)
        async with self._async_sessions.begin() as session:
            return await session.run_sync(fn)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, self._read_sync, fn)

    async def close(self) -> None:
        if self.fast is not None:
            await self.fast.close()
        for executor in self._executors:
            executor.shutdown(wait=True)
        for engine in self._engines:
            engine.dispose()
        for async_engine in self._async_engines:
            await async_engine.dispose()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
