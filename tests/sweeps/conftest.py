"""Study storages for sweep tests: an SQLite file, and a real PostgreSQL server."""

from __future__ import annotations

import uuid

import pytest

from .pg_server import PostgresUnavailable, postgres_server


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server for the session (Debian's package, installed when missing); the
    tests that need it are skipped, with the reason, only when none can be installed or started."""
    pytest.importorskip("psycopg2", reason="psycopg2-binary (the `test` extra) is not installed")
    try:
        server = postgres_server()
        url = server.__enter__()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    yield url
    server.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", "postgres"])
def study_storage(request, tmp_path):
    """(storage URL, a study name of its own) on SQLite and on PostgreSQL."""
    name = f"s{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}", name
    return request.getfixturevalue("postgres_url"), name
