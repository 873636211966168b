"""The sync end to end: demo deployments into SQLite and PostgreSQL, exactly once, incrementally."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from rubix_sync.config import load_settings
from rubix_sync.demo import make_deployment
from rubix_sync.events import (
    BatchWritten,
    DatabaseFinished,
    DatabaseSkipped,
    Event,
    EventBus,
    SessionFinished,
)
from rubix_sync.identity import Identity
from rubix_sync.ipfs import FlatfsWriter
from rubix_sync.pipeline import sync

IDENTITY = Identity(machine_name="vm-test", public_ip="127.0.0.1")


def run_sync(roots: list[Path], url: str | None, **flags: object) -> tuple[object, list[Event]]:
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    settings, _ = load_settings(
        {"roots": roots, "database_url": url, "progress_interval": 0.05, **flags}
    )
    result = sync(settings, bus=bus, identity=IDENTITY, handle_signals=False)
    return result, events


def scalar(url: str, sql: str, **params: object) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def rows(url: str, sql: str, **params: object) -> list[sa.Row]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def faulty_deployment(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("faulty")
    info = make_deployment(root, nodes=4, tokens_per_node=120, faults=True, seed=7)
    return root, info


def test_faulty_deployment_syncs_exactly_once(central_url: str, faulty_deployment, tmp_path):
    src, info = faulty_deployment
    root = tmp_path / "nodes"
    shutil.copytree(src, root, symlinks=True)
    result, events = run_sync([root], central_url, workers=2)

    c = result.counters
    assert result.status == "COMPLETED"
    assert result.exit_code == 1  # planted faults: finished, but some failed
    assert c.total_databases == info.total_databases
    assert c.databases_failed == info.expected_corrupt_databases
    assert c.records == info.total_tokens
    assert c.ipfs_failed == info.expected_ipfs_failed
    assert c.validation_failed == info.expected_validation_failed
    assert c.ipfs_success == info.total_tokens - info.expected_ipfs_failed

    # the central database holds one row per token, and the same numbers
    assert scalar(central_url, 'SELECT COUNT(*) FROM "TokenRecords"') == info.total_tokens
    assert (
        scalar(central_url, 'SELECT COUNT(*) FROM "TokenRecords" WHERE ipfs_fetched = :f', f=False)
        == info.expected_ipfs_failed
    )
    session = rows(central_url, 'SELECT * FROM "SyncSessions"')
    assert len(session) == 1
    s = session[0]._mapping
    assert s["status"] == "COMPLETED"
    assert s["end_time"] is not None
    assert s["total_records_processed"] == c.records
    assert s["ipfs_success"] == c.ipfs_success
    assert s["ipfs_failed"] == c.ipfs_failed
    assert s["validation_failed"] == c.validation_failed
    assert s["databases_done"] == c.total_databases
    # the events carry the same numbers as the counters
    assert sum(e.records for e in events if isinstance(e, BatchWritten)) == c.records
    finished = [e for e in events if isinstance(e, SessionFinished)]
    assert finished[0].counters == c
    # a failed database is recorded with its reason
    failed = rows(
        central_url, "SELECT node_name, error FROM \"ProcessedDatabases\" WHERE status = 'FAILED'"
    )
    assert len(failed) == info.expected_corrupt_databases
    assert all(r.error for r in failed)
    # validation_errors is NULL exactly for fetched tokens that passed
    passed = scalar(
        central_url, 'SELECT COUNT(*) FROM "TokenRecords" WHERE validation_errors IS NULL'
    )
    assert passed == info.total_tokens - info.expected_ipfs_failed - info.expected_validation_failed

    # run again: nothing changed, nothing added, databases skipped
    result2, events2 = run_sync([root], central_url, workers=2)
    assert scalar(central_url, 'SELECT COUNT(*) FROM "TokenRecords"') == info.total_tokens
    skipped = [e for e in events2 if isinstance(e, DatabaseSkipped)]
    assert len(skipped) == info.total_databases - info.expected_corrupt_databases
    # the failed fetches of unchanged databases were retried (still missing, still failed)
    assert result2.counters.ipfs_failed == info.expected_ipfs_failed
    assert scalar(central_url, 'SELECT COUNT(*) FROM "SyncSessions"') == 2


def test_later_successful_fetch_replaces_failure(tmp_path: Path):
    root = tmp_path / "nodes"
    make_deployment(root, nodes=1, tokens_per_node=60, faults=False, seed=3)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    node_dir = next(p for p in root.iterdir() if (p / "Rubix").is_dir())
    repo = node_dir / ".ipfs"
    result, _ = run_sync([root], url, workers=0)
    assert result.counters.ipfs_failed == 0
    token_id = scalar(url, 'SELECT token_id FROM "TokenRecords" ORDER BY token_id LIMIT 1')
    block = FlatfsWriter(repo).block_path(str(token_id))
    saved = block.read_bytes()
    block.unlink()
    # sync into a fresh central database while the block is missing: the failure is recorded
    url2 = f"sqlite:///{tmp_path / 'c2.db'}"
    result, events = run_sync([root], url2, workers=0)
    assert result.counters.ipfs_failed == 1
    assert scalar(
        url2, 'SELECT ipfs_fetched FROM "TokenRecords" WHERE token_id = :t', t=token_id
    ) in (
        0,
        False,
    )
    err = scalar(url2, 'SELECT ipfs_error FROM "TokenRecords" WHERE token_id = :t', t=token_id)
    assert str(err).startswith("not_found")
    # the block comes back: the unchanged database is skipped but its failed fetch is retried
    block.write_bytes(saved)
    result, events = run_sync([root], url2, workers=0)
    assert result.exit_code == 0
    assert any(isinstance(e, DatabaseSkipped) and e.retried_fetches == 1 for e in events)
    assert scalar(
        url2, 'SELECT ipfs_fetched FROM "TokenRecords" WHERE token_id = :t', t=token_id
    ) in (
        1,
        True,
    )
    assert scalar(url2, 'SELECT COUNT(*) FROM "TokenRecords"') == 60
    pd = rows(url2, 'SELECT ipfs_fail_count, ipfs_success_count FROM "ProcessedDatabases"')[0]
    assert pd.ipfs_fail_count == 0 and pd.ipfs_success_count == 60


def test_changed_source_row_updates_its_record(tmp_path: Path):
    import sqlite3

    root = tmp_path / "nodes"
    make_deployment(root, nodes=1, tokens_per_node=40, faults=False, seed=5)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    run_sync([root], url, workers=0)
    db_path = next(root.glob("*/Rubix/rubix.db"))
    token_id = scalar(
        url, "SELECT token_id FROM \"TokenRecords\" WHERE token_type = 'RBT' ORDER BY token_id"
    )
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE TokensTable SET token_status = 4 WHERE token_id = ?", (token_id,))
    conn.close()
    result, events = run_sync([root], url, workers=0)
    assert not any(isinstance(e, DatabaseSkipped) for e in events)
    assert [e.status for e in events if isinstance(e, DatabaseFinished)] == ["COMPLETED"]
    assert (
        scalar(url, 'SELECT token_status FROM "TokenRecords" WHERE token_id = :t', t=token_id) == 4
    )
    assert scalar(url, 'SELECT COUNT(*) FROM "TokenRecords"') == 40


def test_dry_run_writes_nothing(tmp_path: Path):
    root = tmp_path / "nodes"
    info = make_deployment(root, nodes=2, tokens_per_node=30, faults=False, seed=1)
    db = tmp_path / "c.db"
    result, _ = run_sync([root], f"sqlite:///{db}", workers=0, dry_run=True)
    assert result.counters.records == info.total_tokens
    assert not db.exists()


def test_token_contents_land_verified(tmp_path: Path):
    root = tmp_path / "nodes"
    make_deployment(root, nodes=1, tokens_per_node=50, faults=False, seed=11)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result, _ = run_sync([root], url, workers=0)
    assert result.exit_code == 0
    from rubix_sync.ipfs import cid_v0_for_bytes

    records = rows(
        url,
        "SELECT token_id, token_type, ipfs_data, token_level, validation_errors "
        'FROM "TokenRecords"',
    )
    assert len(records) == 50
    for r in records:
        assert cid_v0_for_bytes(r.ipfs_data.encode()) == r.token_id
        assert r.validation_errors is None
        if r.token_type == "RBT":
            assert r.token_level == int(r.ipfs_data[:3])
