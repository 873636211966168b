"""Bulk upserts, checkpoints and failed-fetch retries, on every backend."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from rubix_sync.errors import SinkError
from rubix_sync.sink import CentralDB

from .conftest import failed, make_record

DB = "/data/node1/Rubix/rubix.db"


def rows(db: CentralDB) -> dict[str, dict]:
    t = db.schema.tokens
    with db.engine.connect() as conn:
        return {r.token_id: dict(r._mapping) for r in conn.execute(sa.select(t))}


def write(db: CentralDB, records, checkpoint: str | None = None) -> None:
    db.write_batch(records, machine_name="vm-1", db_path=DB, checkpoint=checkpoint)


def test_tables_and_keys_exist(central: CentralDB) -> None:
    insp = sa.inspect(central.engine)
    assert {"TokenRecords", "SyncSessions", "ProcessedDatabases", "DatabaseLeases"} <= set(
        insp.get_table_names()
    )
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("TokenRecords")}
    assert ("machine_name", "node_name", "token_id") in uniques
    index_names = {i["name"] for i in insp.get_indexes("TokenRecords")}
    assert {"ix_TokenRecords_synced_at", "ix_TokenRecords_machine_fetched"} <= index_names
    # Connecting again finds nothing to change.
    from rubix_sync.sink._migrate import ensure_schema

    assert ensure_schema(central.engine, central.schema) == []


def test_same_batch_twice_adds_no_rows(central: CentralDB, central_url: str) -> None:
    batch = [make_record(i) for i in range(250)]
    write(central, batch)
    write(central, batch)
    assert central.count_records() == 250
    again = CentralDB.connect(central_url)  # a new run, a new engine
    try:
        again.write_batch(batch, machine_name="vm-1", db_path=DB, checkpoint=None)
        assert again.count_records() == 250
        assert again.count_records("vm-1") == 250
        assert again.count_records("vm-2") == 0
    finally:
        again.close()


def test_values_round_trip(central: CentralDB) -> None:
    rec = make_record(
        7,
        token_type="PART",
        owned=False,
        token_status=3,
        token_value=0.125,
        parent_token_id="QmParent",
        ft_name="café",
        creator_did="bafycreator",
        token_level=4,
        ipfs_data="x" * 100_000,
        validation_errors='["value_mismatch"]',
        synced_at="2026-12-03T12:00:00+02:00",
    )
    write(central, [rec])
    row = rows(central)[rec.token_id]
    assert row["token_type"] == "PART"
    assert row["owned"] is False and row["ipfs_fetched"] is True
    assert (row["token_status"], row["token_value"], row["token_level"]) == (3, 0.125, 4)
    assert row["ft_name"] == "café"
    assert len(row["ipfs_data"]) == 100_000
    assert json.loads(row["validation_errors"]) == ["value_mismatch"]
    assert row["source_updated_at"] == "2025-03-01 10:00:00"
    assert row["synced_at"].isoformat() == "2026-12-03T10:00:00"  # stored as naive UTC


def test_changed_source_row_updates_record(central: CentralDB) -> None:
    write(central, [make_record(1, token_status=0, owned=True)])
    write(
        central,
        [make_record(1, token_status=2, owned=False, synced_at="2026-12-04T00:00:00Z")],
    )
    row = rows(central)[make_record(1).token_id]
    assert (row["token_status"], row["owned"]) == (2, False)
    assert row["synced_at"].isoformat() == "2026-12-04T00:00:00"
    assert central.count_records() == 1


def test_later_success_replaces_failure(central: CentralDB) -> None:
    write(central, [failed(1)])
    assert rows(central)[make_record(1).token_id]["ipfs_fetched"] is False
    write(central, [make_record(1, token_level=2)])
    row = rows(central)[make_record(1).token_id]
    assert row["ipfs_fetched"] is True
    assert (row["ipfs_data"], row["ipfs_error"], row["validation_errors"], row["token_level"]) == (
        "content-1",
        None,
        None,
        2,
    )


def test_later_failure_keeps_fetched_content(central: CentralDB) -> None:
    write(central, [make_record(1, token_level=5)])
    write(central, [failed(1, token_status=9, synced_at="2026-12-05T00:00:00Z")])
    row = rows(central)[make_record(1).token_id]
    # content fields: the earlier success stands
    assert row["ipfs_fetched"] is True
    assert (row["ipfs_data"], row["ipfs_error"], row["validation_errors"], row["token_level"]) == (
        "content-1",
        None,
        None,
        5,
    )
    # row fields: the new values
    assert row["token_status"] == 9
    assert row["synced_at"].isoformat() == "2026-12-05T00:00:00"


def test_failure_after_failure_takes_new_error(central: CentralDB) -> None:
    write(central, [failed(1, ipfs_error="timeout: 5s")])
    write(central, [failed(1, ipfs_error="not_found: gone")])
    assert rows(central)[make_record(1).token_id]["ipfs_error"] == "not_found: gone"


def test_duplicate_keys_in_one_batch_last_wins(central: CentralDB) -> None:
    write(central, [make_record(1, token_status=1), make_record(2), make_record(1, token_status=7)])
    got = rows(central)
    assert len(got) == 2
    assert got[make_record(1).token_id]["token_status"] == 7


def test_same_token_on_two_nodes_and_machines_are_distinct(central: CentralDB) -> None:
    write(central, [make_record(1), make_record(1, node_name="node2")])
    central.write_batch(
        [make_record(1, machine_name="vm-2")], machine_name="vm-2", db_path=DB, checkpoint=None
    )
    assert central.count_records() == 3
    assert central.count_records("vm-2") == 1


def test_checkpoint_moves_with_its_batch_only(central: CentralDB) -> None:
    central.begin_database("vm-1", DB, "node1", "fp1", keep_checkpoint=False)
    write(central, [make_record(i) for i in range(100)], checkpoint="TokensTable:100")
    assert central.get_processed("vm-1", DB).checkpoint == "TokensTable:100"

    # One bad record (token_type is NOT NULL) sinks the whole batch and its checkpoint.
    bad = [make_record(i) for i in range(100, 200)] + [make_record(999, token_type=None)]
    with pytest.raises(SinkError) as err:
        write(central, bad, checkpoint="TokensTable:201")
    assert "token_type" in str(err.value) or "NOT NULL" in str(err.value).upper()
    assert central.count_records() == 100
    assert central.get_processed("vm-1", DB).checkpoint == "TokensTable:100"

    # The pipeline resumes from the checkpoint; the retried batch lands with its checkpoint.
    write(central, bad[:-1], checkpoint="TokensTable:200")
    assert central.count_records() == 200
    assert central.get_processed("vm-1", DB).checkpoint == "TokensTable:200"


def test_checkpoint_without_begin_database_is_refused(central: CentralDB) -> None:
    with pytest.raises(SinkError, match="begin_database"):
        write(central, [make_record(1)], checkpoint="x")
    assert central.count_records() == 0


def test_bad_synced_at_is_a_sink_error(central: CentralDB) -> None:
    with pytest.raises(SinkError, match="synced_at"):
        write(central, [make_record(1, synced_at="yesterday")])


def test_empty_batch_moves_checkpoint(central: CentralDB) -> None:
    central.begin_database("vm-1", DB, "node1", "fp1", keep_checkpoint=False)
    write(central, [], checkpoint="done")
    assert central.get_processed("vm-1", DB).checkpoint == "done"


def test_iter_failed_fetches_pages_and_round_trips(central: CentralDB) -> None:
    batch = []
    for i in range(550):
        node = "node1" if i % 2 else "node2"
        rec = failed(i, node_name=node) if i % 3 == 0 else make_record(i, node_name=node)
        batch.append(rec)
    write(central, batch)
    central.write_batch(
        [failed(1, machine_name="vm-2", node_name="node1")],
        machine_name="vm-2",
        db_path=DB,
        checkpoint=None,
    )
    expected = {r.token_id for r in batch if not r.ipfs_fetched and r.node_name == "node1"}
    pages = []
    for page in central.iter_failed_fetches("vm-1", "node1", batch_size=20):
        assert central.engine.pool.checkedout() == 0  # no connection held while we work
        pages.append(page)
    assert all(len(p) <= 20 for p in pages) and len(pages) == -(-len(expected) // 20)
    got = [r for p in pages for r in p]
    assert {r.token_id for r in got} == expected and len(got) == len(expected)
    sample = next(r for r in got if r.token_id == make_record(3).token_id)
    assert sample == failed(3, node_name="node1", synced_at=sample.synced_at)
    assert sample.synced_at.startswith("2026-12-03T10:00:00.000001")

    # The retry path: write them back fetched; nothing is left to retry.
    for page in central.iter_failed_fetches("vm-1", "node1", batch_size=20):
        fixed = [make_record(int(r.token_id[2:]), node_name="node1") for r in page]
        write(central, fixed)
    assert list(central.iter_failed_fetches("vm-1", "node1")) == []
    assert central.count_records() == 551


_WRITER = r"""
import sys
from rubix_sync.sink import CentralDB
from tests.sink.conftest import make_record

db = CentralDB.connect(sys.argv[1])
db.begin_database("vm-1", "/k", "node1", "fp", keep_checkpoint=False)
print("ready", flush=True)
b = 0
while True:
    recs = [make_record(b * 200 + i) for i in range(200)]
    db.write_batch(recs, machine_name="vm-1", db_path="/k", checkpoint=str(b + 1))
    b += 1
"""


def test_sigkill_between_or_during_batches_leaves_checkpoint_consistent(
    central_url: str, tmp_path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, central_url],
        cwd=root,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.6)  # let it commit a few batches and be somewhere inside the next
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    db = CentralDB.connect(central_url)
    try:
        checkpoint = int(db.get_processed("vm-1", "/k").checkpoint)
        assert checkpoint >= 1
        # Exactly the batches up to the checkpoint are there: no more, no less.
        assert db.count_records() == checkpoint * 200
    finally:
        db.close()
