"""A real PostgreSQL for tests/central: one throwaway server per test session
(per xdist worker), a fresh database per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.central.pgserver import PgServer, PgUnavailable


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        srv = PgServer.start()
    except PgUnavailable as exc:
        pytest.skip(f"PostgreSQL cannot run here: {exc}")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def central_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server."""
    psycopg = pytest.importorskip("psycopg")
    name = "t_" + secrets.token_hex(6)
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
