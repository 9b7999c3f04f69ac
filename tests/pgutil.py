"""Throw-away PostgreSQL databases for tests, cloned from one migrated template per test session."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("HOTLINE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _connect_admin():  # type: ignore[no-untyped-def]
    url = make_url(PG_URL)
    conn = psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                            dbname=url.database, connect_timeout=3)
    conn.autocommit = True
    return conn


def require_postgres() -> None:
    """Skip (or, in CI, fail) when the PostgreSQL server is not reachable, saying why."""
    try:
        _connect_admin().close()
    except psycopg2.OperationalError as exc:
        message = f"PostgreSQL at {make_url(PG_URL).render_as_string()} is not reachable: {exc}".strip()
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run every test)")
        pytest.skip(message)


def url_for(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def create_database(template: str | None = None) -> str:
    name = f"hotline_t_{os.getpid()}_{secrets.token_hex(4)}"
    conn = _connect_admin()
    try:
        with conn.cursor() as cur:
            if template:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    finally:
        conn.close()
    return name


def drop_database(name: str) -> None:
    conn = _connect_admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


@contextmanager
def temporary_database(template: str | None = None) -> Iterator[str]:
    name = create_database(template)
    try:
        yield name
    finally:
        drop_database(name)
