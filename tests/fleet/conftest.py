"""Seeded central databases for the fleet tests: a SQLite file and a fresh PostgreSQL database.

Every number the tests assert is counted by hand from ``SESSIONS`` and ``TOKENS`` below,
relative to the fixed instant ``NOW``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

UTC = timezone.utc
NOW = datetime(2026, 12, 3, 12, 30, 0, tzinfo=UTC)
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def session(session_id: str, machine: str, ip: str, status: str, **kw: object) -> dict:
    row: dict[str, object] = {
        "session_id": session_id,
        "machine_name": machine,
        "source_ip": ip,
        "start_time": None,
        "end_time": None,
        "last_heartbeat": None,
        "status": status,
        "total_databases": 0,
        "databases_done": 0,
        "total_records_processed": 0,
        "ipfs_success": 0,
        "ipfs_failed": 0,
        "validation_failed": 0,
        "sql_errors": 0,
        "error_summary": None,
    }
    row.update(kw)
    return row


SESSIONS = [
    # vm-a: an old finished session, then the running one (the latest).
    session(
        "a-1",
        "vm-a",
        "203.0.113.10",
        "COMPLETED",
        start_time=ago(90000),
        end_time=ago(86400),
        last_heartbeat=ago(86400),
        total_databases=10,
        databases_done=10,
        total_records_processed=50000,
        ipfs_success=50000,
    ),
    session(
        "a-2",
        "vm-a",
        "203.0.113.10",
        "RUNNING",
        start_time=ago(600),
        last_heartbeat=ago(10),
        total_databases=10,
        databases_done=4,
        total_records_processed=6000,
        ipfs_success=5900,
        ipfs_failed=100,
        validation_failed=60,
        sql_errors=2,
    ),
    # vm-b: says RUNNING but its last heartbeat is 30 minutes old -> STALE.
    session(
        "b-1",
        "vm-b",
        "203.0.113.11",
        "RUNNING",
        start_time=ago(3600),
        last_heartbeat=ago(1800),
        total_databases=5,
        databases_done=2,
        total_records_processed=1000,
        ipfs_success=990,
        ipfs_failed=10,
        validation_failed=0,
    ),
    # vm-c: finished an hour ago.
    session(
        "c-1",
        "vm-c",
        "203.0.113.12",
        "COMPLETED",
        start_time=ago(7200),
        end_time=ago(3600),
        last_heartbeat=ago(3600),
        total_databases=5,
        databases_done=5,
        total_records_processed=3600,
        ipfs_success=3600,
    ),
    # vm-d: failed.
    session(
        "d-1",
        "vm-d",
        "203.0.113.13",
        "FAILED",
        start_time=ago(5000),
        end_time=ago(4000),
        last_heartbeat=ago(4000),
        total_databases=3,
        databases_done=1,
        total_records_processed=200,
        ipfs_success=150,
        ipfs_failed=50,
        validation_failed=20,
        sql_errors=5,
        error_summary="node7: database disk image is malformed",
    ),
    # vm-e: interrupted (Ctrl-C), never finished a database.
    session(
        "e-1",
        "vm-e",
        "203.0.113.14",
        "INTERRUPTED",
        start_time=ago(1000),
        end_time=ago(900),
        last_heartbeat=ago(900),
        total_databases=4,
        databases_done=0,
    ),
]


def token(
    n: int,
    machine: str,
    ip: str,
    synced: datetime,
    *,
    fetched: bool = True,
    invalid: bool = False,
    ipfs_error: str | None = None,
    node: str = "node1",
) -> dict:
    return {
        "machine_name": machine,
        "source_ip": ip,
        "node_name": node,
        "db_path": f"/srv/{node}/Rubix/rubix.db",
        "token_type": "RBT",
        "token_id": f"Qm{machine}{n:04d}",
        "did": "bafyDID",
        "owned": True,
        "token_status": 0,
        "token_value": 1.0,
        "parent_token_id": None,
        "ft_name": None,
        "creator_did": None,
        "token_level": 1,
        "ipfs_data": None,
        "ipfs_fetched": fetched,
        "ipfs_error": ipfs_error,
        "validation_errors": json.dumps(["bad_level"]) if invalid else None,
        "source_updated_at": None,
        "synced_at": synced,
    }


def _tokens() -> list[dict]:
    rows: list[dict] = []
    n = 0

    def add(count: int, machine: str, ip: str, synced: datetime, **kw: object) -> None:
        nonlocal n
        for _ in range(count):
            n += 1
            rows.append(token(n, machine, ip, synced, **kw))

    a, b, c = ("vm-a", "203.0.113.10"), ("vm-b", "203.0.113.11"), ("vm-c", "203.0.113.12")
    # hour 12:00 (NOW is 12:30)
    add(5, *a, NOW.replace(minute=5))
    add(2, *a, NOW.replace(minute=10), fetched=False, ipfs_error="timeout: 30s")
    add(1, *a, NOW.replace(minute=20), invalid=True)
    # hour 11:00
    add(4, *b, NOW.replace(hour=11, minute=59, second=59))
    add(
        1,
        *b,
        NOW.replace(hour=11, minute=0),
        fetched=False,
        invalid=True,
        ipfs_error="not_found: block missing",
    )
    # hour 09:00
    add(3, *c, NOW.replace(hour=9, minute=30))
    # 23 h ago (hour 13:00 of the day before): inside a 24 h window, outside a 6 h window
    add(2, *c, NOW - timedelta(hours=23, minutes=10))
    # 25 h ago: outside every default window
    add(7, *a, NOW - timedelta(hours=25))
    return rows


TOKENS = _tokens()

PROCESSED = [
    {
        "machine_name": "vm-d",
        "db_path": "/srv/node7/Rubix/rubix.db",
        "node_name": "node7",
        "fingerprint": "f7",
        "last_processed": ago(4100),
        "record_count": 0,
        "ipfs_success_count": 0,
        "ipfs_fail_count": 0,
        "validation_error_count": 0,
        "processing_duration_seconds": 0.5,
        "status": "FAILED",
        "checkpoint": None,
        "error": "database disk image is malformed",
    },
    {
        "machine_name": "vm-c",
        "db_path": "/srv/node1/Rubix/rubix.db",
        "node_name": "node1",
        "fingerprint": "f1",
        "last_processed": ago(3700),
        "record_count": 3,
        "ipfs_success_count": 3,
        "ipfs_fail_count": 0,
        "validation_error_count": 0,
        "processing_duration_seconds": 2.0,
        "status": "COMPLETED",
        "checkpoint": None,
        "error": None,
    },
]


# --- schema ---------------------------------------------------------------------------------


def create_schema(url: str) -> None:
    """The real central schema, as the sink creates it."""
    from rubix_sync.sink import CentralDB

    CentralDB.connect(url).close()


def _fit(engine: Engine, table: str, rows: list[dict]) -> list[dict]:
    """Only the columns the table has; datetimes naive UTC unless the column keeps a zone."""
    cols = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(table)}
    out = []
    for r in rows:
        d = {}
        for k, v in r.items():
            if k not in cols:
                continue
            if isinstance(v, datetime) and not getattr(cols[k], "timezone", False):
                v = v.astimezone(UTC).replace(tzinfo=None)
            d[k] = v
        out.append(d)
    return out


def insert(engine: Engine, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(t.insert(), _fit(engine, table, rows))


def _shifted(rows: list[dict], shift: timedelta) -> list[dict]:
    if not shift:
        return rows
    return [{k: (v + shift if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]


def seed(engine: Engine, shift: timedelta = timedelta(0)) -> None:
    """Insert the hand-counted fleet; ``shift`` moves every timestamp (NOW + shift = "now")."""
    insert(engine, "SyncSessions", _shifted(SESSIONS, shift))
    insert(engine, "TokenRecords", _shifted(TOKENS, shift))
    insert(engine, "ProcessedDatabases", _shifted(PROCESSED, shift))


# --- databases ------------------------------------------------------------------------------


def new_sqlite(
    path: Path, *, seeded: bool = True, live: bool = False, shift: timedelta = timedelta(0)
) -> str:
    """A central SQLite database at ``path``; ``live``: seeded relative to the real clock (plus
    ``shift``), else at the fixed ``NOW``."""
    url = f"sqlite:///{path}"
    create_schema(url)
    if seeded:
        engine = sa.create_engine(url)
        try:
            seed(engine, (datetime.now(UTC) - NOW if live else timedelta(0)) + shift)
        finally:
            engine.dispose()
    return url


@pytest.fixture
def live_url(tmp_path: Path) -> str:
    """The seeded fleet as if NOW were the current time (for commands that use the clock)."""
    return new_sqlite(tmp_path / "live.db", live=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; its URL."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("psycopg is not installed")
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"rubix_fleet_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if IN_CI:
            raise
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc.orig}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return new_sqlite(tmp_path_factory.mktemp("fleet") / "central.db")


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> str:
    create_schema(pg_server)
    engine = sa.create_engine(pg_server)
    try:
        seed(engine)
    finally:
        engine.dispose()
    return pg_server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def seeded_url(request: pytest.FixtureRequest) -> str:
    """The seeded central database, once per backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def seeded_engine(seeded_url: str) -> Iterator[Engine]:
    engine = sa.create_engine(seeded_url)
    try:
        yield engine
    finally:
        engine.dispose()
