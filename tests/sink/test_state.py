"""Sessions, per-database progress and leases, on every backend."""

from __future__ import annotations

import random
import threading
import time

import pytest
import sqlalchemy as sa

from rubix_sync.models import Counters
from rubix_sync.sink import CentralDB

DB = "/mnt/share/node7/Rubix/rubix.db"


def session_row(db: CentralDB, session_id: str) -> dict:
    t = db.schema.sessions
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.select(t).where(t.c.session_id == session_id)).one()._mapping)


def test_session_lifecycle(central: CentralDB) -> None:
    sid = central.start_session("vm-1", "203.0.113.9", total_databases=12)
    assert len(sid) == 32 and int(sid, 16) >= 0
    row = session_row(central, sid)
    assert (row["status"], row["machine_name"], row["source_ip"]) == (
        "RUNNING",
        "vm-1",
        "203.0.113.9",
    )
    assert row["total_databases"] == 12 and row["total_records_processed"] == 0
    assert row["start_time"] is not None and row["end_time"] is None
    first_beat = row["last_heartbeat"]

    time.sleep(0.01)
    counters = Counters(
        total_databases=12,
        databases_done=3,
        records=4500,
        ipfs_success=4400,
        ipfs_failed=100,
        validation_failed=7,
        sql_errors=1,
    )
    central.heartbeat(sid, counters)
    row = session_row(central, sid)
    assert row["last_heartbeat"] > first_beat
    assert (
        row["databases_done"],
        row["total_records_processed"],
        row["ipfs_success"],
        row["ipfs_failed"],
        row["validation_failed"],
        row["sql_errors"],
    ) == (3, 4500, 4400, 100, 7, 1)
    assert row["status"] == "RUNNING"

    counters.databases_done = 12
    counters.records = 9000
    central.finish_session(sid, "INTERRUPTED", counters, "SIGTERM received")
    row = session_row(central, sid)
    assert (row["status"], row["databases_done"], row["total_records_processed"]) == (
        "INTERRUPTED",
        12,
        9000,
    )
    assert row["error_summary"] == "SIGTERM received"
    assert row["end_time"] is not None and row["end_time"] >= row["start_time"]

    other = central.start_session("vm-1", None, 0)
    assert other != sid and session_row(central, other)["status"] == "RUNNING"
    with pytest.raises(ValueError, match="status"):
        central.finish_session(other, "RUNNING", Counters(), None)


def test_processed_database_lifecycle(central: CentralDB) -> None:
    assert central.get_processed("vm-1", DB) is None
    central.begin_database("vm-1", DB, "node7", "fp-1", keep_checkpoint=False)
    state = central.get_processed("vm-1", DB)
    assert state is not None
    assert (state.status, state.fingerprint, state.node_name, state.checkpoint) == (
        "IN_PROGRESS",
        "fp-1",
        "node7",
        None,
    )
    central.write_batch([], machine_name="vm-1", db_path=DB, checkpoint="T:500")

    # Resuming keeps the checkpoint; starting over clears it.
    central.begin_database("vm-1", DB, "node7", "fp-1", keep_checkpoint=True)
    assert central.get_processed("vm-1", DB).checkpoint == "T:500"
    central.finish_database(
        "vm-1",
        DB,
        "node7",
        "fp-1",
        status="FAILED",
        record_count=500,
        ipfs_success=490,
        ipfs_failed=10,
        validation_failed=2,
        duration_seconds=1.5,
        error="SourceBusyError: locked",
    )
    state = central.get_processed("vm-1", DB)
    assert (state.status, state.error, state.checkpoint) == (
        "FAILED",
        "SourceBusyError: locked",
        "T:500",
    )
    central.begin_database("vm-1", DB, "node7", "fp-2", keep_checkpoint=False)
    state = central.get_processed("vm-1", DB)
    assert (state.checkpoint, state.fingerprint, state.error) == (None, "fp-2", None)

    central.finish_database(
        "vm-1",
        DB,
        "node7",
        "fp-2",
        status="COMPLETED",
        record_count=1000,
        ipfs_success=990,
        ipfs_failed=10,
        validation_failed=3,
        duration_seconds=2.25,
    )
    state = central.get_processed("vm-1", DB)
    assert (
        state.status,
        state.record_count,
        state.ipfs_success_count,
        state.ipfs_fail_count,
        state.validation_error_count,
        state.processing_duration_seconds,
        state.checkpoint,
    ) == ("COMPLETED", 1000, 990, 10, 3, 2.25, None)
    assert state.last_processed is not None
    # Another machine seeing the same path has its own row.
    assert central.get_processed("vm-2", DB) is None
    with pytest.raises(ValueError, match="status"):
        central.finish_database(
            "vm-1",
            DB,
            "node7",
            "fp",
            status="DONE",
            record_count=0,
            ipfs_success=0,
            ipfs_failed=0,
            validation_failed=0,
            duration_seconds=0,
        )


def test_lease_two_holders(central: CentralDB) -> None:
    a, b = "vm-1:101:s1", "vm-2:202:s2"
    assert central.try_acquire_lease(DB, a, 60)
    assert not central.try_acquire_lease(DB, b, 60)
    assert central.try_acquire_lease(DB, a, 60)  # already ours
    assert central.renew_lease(DB, a, 60)
    assert not central.renew_lease(DB, b, 60)
    central.release_lease(DB, b)  # not b's: no effect
    assert not central.try_acquire_lease(DB, b, 60)
    central.release_lease(DB, a)
    assert central.try_acquire_lease(DB, b, 60)
    assert not central.try_acquire_lease(DB, a, 60)
    assert not central.renew_lease(DB, a, 60)


def test_lease_expires_when_holder_stops_renewing(central: CentralDB) -> None:
    a, b = "vm-1:101:s1", "vm-2:202:s2"
    assert central.try_acquire_lease(DB, a, 0.3)
    assert not central.try_acquire_lease(DB, b, 60)
    time.sleep(0.5)  # a died: no renewal
    assert central.try_acquire_lease(DB, b, 60)
    assert not central.renew_lease(DB, a, 60)  # a wakes up: it lost the lease
    assert not central.try_acquire_lease(DB, a, 60)
    t = central.schema.leases
    with central.engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.db_path == DB)).one()
    assert row.holder == b and row.expires_at > row.heartbeat


def test_concurrent_acquirers_get_disjoint_leases(central: CentralDB) -> None:
    paths = [f"/mnt/share/node{i}/Rubix/rubix.db" for i in range(30)]
    holders = [f"vm-{i}:{1000 + i}:s" for i in range(6)]
    won: dict[str, list[str]] = {h: [] for h in holders}
    barrier = threading.Barrier(len(holders))
    errors: list[BaseException] = []

    def work(holder: str) -> None:
        order = paths[:]
        random.Random(holder).shuffle(order)
        try:
            barrier.wait()
            for p in order:
                if central.try_acquire_lease(p, holder, 60):
                    won[holder].append(p)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(h,)) for h in holders]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    taken = [p for h in holders for p in won[h]]
    assert sorted(taken) == sorted(paths)  # every lease taken, none twice


def test_pg_lease_row_locked_by_another_acquirer_is_skipped_not_waited(pg_url: str) -> None:
    # lock_timeout: were the lock waited for, the test would fail instead of hanging.
    db = CentralDB.connect(pg_url + "%20-clock_timeout%3D1000", retry_attempts=1)
    try:
        assert db.try_acquire_lease(DB, "vm-1:1:s", -1)  # taken, already expired: free to steal
        t = db.schema.leases
        with db.engine.connect() as other:  # another machine, mid-decision on this lease
            other.execute(sa.select(t).where(t.c.db_path == DB).with_for_update())
            started = time.monotonic()
            assert not db.try_acquire_lease(DB, "vm-2:2:s", 60)  # SKIP LOCKED: no waiting
            assert time.monotonic() - started < 2
            other.rollback()
        assert db.try_acquire_lease(DB, "vm-2:2:s", 60)
    finally:
        db.close()


def test_many_workers_share_the_pool_without_deadlock(central: CentralDB) -> None:
    """Workers writing, reading and heart-beating at once: all done, nothing lost, no hang."""
    from .conftest import failed, make_record

    sid = central.start_session("vm-1", None, 12)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        node, path = f"node{w}", f"/d/node{w}/Rubix/rubix.db"
        try:
            central.begin_database("vm-1", path, node, "fp", keep_checkpoint=False)
            for b in range(6):
                recs = [
                    (failed if i % 4 == 0 else make_record)(w * 10_000 + b * 50 + i, node_name=node)
                    for i in range(50)
                ]
                central.write_batch(recs, machine_name="vm-1", db_path=path, checkpoint=str(b))
                for _page in central.iter_failed_fetches("vm-1", node, batch_size=7):
                    central.heartbeat(sid, Counters(records=b))
            central.finish_database(
                "vm-1",
                path,
                node,
                "fp",
                status="COMPLETED",
                record_count=300,
                ipfs_success=225,
                ipfs_failed=75,
                validation_failed=75,
                duration_seconds=0.1,
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not any(th.is_alive() for th in threads), "a worker hung (pool deadlock?)"
    assert not errors, errors[0]
    assert central.count_records() == 12 * 300
    assert central.engine.pool.checkedout() == 0
    assert all(
        central.get_processed("vm-1", f"/d/node{w}/Rubix/rubix.db").status == "COMPLETED"
        for w in range(12)
    )


def test_write_under_a_lost_lease_writes_nothing(central: CentralDB) -> None:
    from rubix_sync.errors import LeaseLostError

    from .conftest import make_record

    a, b = "vm-1:101:s1", "vm-2:202:s2"
    assert central.try_acquire_lease(DB, a, 0.2)
    central.write_batch([make_record(1)], machine_name="m", db_path=DB, checkpoint=None,
                        lease_holder=a)  # fmt: skip
    time.sleep(0.4)
    assert central.try_acquire_lease(DB, b, 60)  # a's lease expired and b took it over
    with pytest.raises(LeaseLostError, match="no longer held by vm-1"):
        central.write_batch([make_record(2)], machine_name="m", db_path=DB, checkpoint=None,
                            lease_holder=a)  # fmt: skip
    assert central.count_records() == 1
    central.write_batch([make_record(2)], machine_name="m", db_path=DB, checkpoint=None,
                        lease_holder=b)  # fmt: skip
    assert central.count_records() == 2
