"""Fixtures for the central database tests: one test body, every backend.

Pattern to copy for end-to-end tests (PostgreSQL isolation without touching the `test` db):
  * ``pg_database`` (session): a fresh database ``rubix_sync_test_<hex>`` created on the local
    server (127.0.0.1:5432, trust auth) and dropped at the end. Skips when the server is
    unreachable, but FAILS when ``CI=true``.
  * ``pg_url`` (function): a fresh schema in that database, selected through the URL
    (``?options=-csearch_path=<schema>``), so every test starts with no tables.
  * ``central_url`` (function, parametrized ``sqlite`` / ``postgresql``): a URL for either.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

# Override with RUBIX_TEST_PG_URL (e.g. another port); must be a loopback server.
PG_ADMIN_URL = os.environ.get("RUBIX_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _require_pg() -> None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({str(exc).splitlines()[0]})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true forbids skipping")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """SQLAlchemy URL of a database created for this test session (dropped afterwards)."""
    _require_pg()
    import psycopg

    name = f"rubix_sync_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = sa.make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A URL whose search_path is a brand-new, empty schema (dropped after the test)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:10]}"
    plain = pg_database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_database}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def central_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def central(central_url: str):
    from rubix_sync.sink import CentralDB

    db = CentralDB.connect(central_url, retry_wait=0.05)
    try:
        yield db
    finally:
        db.close()


SYNCED_AT = "2026-12-03T10:00:00.000001+00:00"


def make_record(i: int = 0, **over: object):
    """A TokenRecord with sensible values; override any field by keyword."""
    from rubix_sync.models import TokenRecord

    fields: dict[str, object] = dict(
        machine_name="vm-1",
        source_ip="10.0.0.1",
        node_name="node1",
        db_path="/data/node1/Rubix/rubix.db",
        token_type="RBT",
        token_id=f"Qm{i:044d}",
        did="bafybeidid",
        owned=True,
        token_status=0,
        token_value=1.0,
        parent_token_id=None,
        ft_name=None,
        creator_did=None,
        token_level=1,
        ipfs_data=f"content-{i}",
        ipfs_fetched=True,
        ipfs_error=None,
        validation_errors=None,
        source_updated_at="2025-03-01 10:00:00",
        synced_at=SYNCED_AT,
    )
    fields.update(over)
    return TokenRecord(**fields)  # type: ignore[arg-type]


def failed(i: int = 0, **over: object):
    """A record whose fetch failed."""
    base: dict[str, object] = dict(
        ipfs_data=None,
        ipfs_fetched=False,
        ipfs_error="not_found: block absent",
        token_level=None,
        validation_errors='["content_missing"]',
    )
    base.update(over)
    return make_record(i, **base)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
