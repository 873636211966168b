"""Shared node storage: `rubix-sync run` on several machines splits the databases through leases.

Real processes against the real PostgreSQL server, sharing demo node folders. Evidence of
"no database processed twice" comes from each process's own event stream
(``logs/sync_events_*.jsonl``): a ``database_started`` event per database processed, and the
records of every ``batch_written`` event. TokenRecords alone could not show it: its unique key
would absorb a second copy of the same tokens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rubix_sync.demo import make_deployment

SHARED = "shared-a"
NODES = 9
TOKENS = 400  # per node: at one or two tokens per batch, a database takes about a second
TTL = 4.0
HEARTBEAT = 0.5


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("shared") / "nodes"
    info = make_deployment(root, nodes=NODES, tokens_per_node=TOKENS, faults=False, seed=61)
    assert info.total_databases == NODES
    return root, info.total_tokens


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started by a test; any still alive at teardown is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture
def central(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def start(
    procs: list[subprocess.Popen[bytes]],
    root: Path,
    url: str,
    cwd: Path,
    machine: str,
    *,
    batch_size: int,
    ttl: float = TTL,
    host: str | None = None,
) -> subprocess.Popen[bytes]:
    """``rubix-sync run --shared-storage`` as one machine, in its own working directory."""
    cwd.mkdir(parents=True)
    env = {
        **os.environ,
        "RUBIX_SYNC_LEASE_TTL": str(ttl),
        "RUBIX_SYNC_HEARTBEAT_INTERVAL": str(HEARTBEAT),
    }
    if host is not None:
        env["RUBIX_SYNC_HOST_NAME"] = host  # looks like another machine: no same-host shortcut
    with open(cwd / "out.txt", "wb") as out, open(cwd / "err.txt", "wb") as err:
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rubix_sync",
                "run",
                "--root",
                str(root),
                "--database",
                url,
                "--shared-storage",
                SHARED,
                "--machine-name",
                machine,
                "--workers",
                "1",
                "--batch-size",
                str(batch_size),
                "--no-progress",
            ],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
        )
    procs.append(p)
    return p


def finish(p: subprocess.Popen[bytes], cwd: Path, timeout: float = 60) -> int:
    try:
        code = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError(f"{cwd.name} did not finish within {timeout} s") from None
    assert "Traceback" not in (cwd / "err.txt").read_text(), (cwd / "err.txt").read_text()
    return code


def events(cwd: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for f in sorted((cwd / "logs").glob("sync_events_*.jsonl")):
        lines += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return lines


def of(evs: list[dict[str, Any]], kind: str, db_path: str | None = None) -> list[dict[str, Any]]:
    return [e for e in evs if e["event"] == kind and (db_path is None or e["db_path"] == db_path)]


def q(engine: sa.Engine, sql: str, **params: object) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def all_db_paths(root: Path) -> set[str]:
    return {str(p) for p in root.glob("*/Rubix/rubix.db")}


def as_unix(ts: datetime) -> float:
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).timestamp()


def assert_tokens_once(engine: sa.Engine, total: int) -> None:
    row = q(
        engine,
        "SELECT COUNT(*) AS n, COUNT(DISTINCT (machine_name, node_name, token_id)) AS keys, "
        "COUNT(DISTINCT machine_name) AS machines, MIN(machine_name) AS machine "
        'FROM "TokenRecords"',
    )[0]
    assert (row.n, row.keys, row.machines, row.machine) == (total, total, 1, SHARED)


def test_three_machines_split_the_databases(
    nodes: tuple[Path, int], pg_url: str, central: sa.Engine, tmp_path: Path, procs: list
) -> None:
    root, total = nodes
    machines = ["vm-1", "vm-2", "vm-3"]
    for m in machines:
        start(procs, root, pg_url, tmp_path / m, m, batch_size=2)
    codes = {m: finish(p, tmp_path / m) for m, p in zip(machines, procs)}
    assert codes == {m: 0 for m in machines}

    evs = {m: events(tmp_path / m) for m in machines}
    # every database was processed, each by exactly one machine
    started = Counter(e["db_path"] for m in machines for e in of(evs[m], "database_started"))
    assert set(started) == all_db_paths(root)
    assert set(started.values()) == {1}, started
    finished = [e for m in machines for e in of(evs[m], "database_finished")]
    assert sorted(e["db_path"] for e in finished) == sorted(started)
    assert {e["status"] for e in finished} == {"COMPLETED"}
    # ... and the work was really split
    share = {m: len(of(evs[m], "database_started")) for m in machines}
    assert sum(1 for n in share.values() if n > 0) >= 2, share
    # the others saw those databases done and skipped them (never read them a second time)
    for m in machines:
        skipped = {e["db_path"] for e in of(evs[m], "database_skipped")}
        mine = {e["db_path"] for e in of(evs[m], "database_started")}
        assert not skipped & mine
        assert skipped | mine <= all_db_paths(root)
    # every token was written exactly once, under the storage name
    assert sum(e["records"] for m in machines for e in of(evs[m], "batch_written")) == total
    assert_tokens_once(central, total)

    sessions = q(central, 'SELECT * FROM "SyncSessions"')
    assert sorted(s.machine_name for s in sessions) == machines
    assert all(s.status == "COMPLETED" and s.end_time is not None for s in sessions)
    # each machine accounted for every database (its own share done, the rest skipped) ...
    assert {(s.total_databases, s.databases_done) for s in sessions} == {(NODES, NODES)}
    # ... and between them wrote every token once
    assert sum(s.total_records_processed for s in sessions) == total
    processed = q(central, 'SELECT machine_name, status, record_count FROM "ProcessedDatabases"')
    assert len(processed) == NODES
    assert {(p.machine_name, p.status, p.record_count) for p in processed} == {
        (SHARED, "COMPLETED", TOKENS)
    }
    assert q(central, 'SELECT COUNT(*) FROM "DatabaseLeases"')[0][0] == 0  # all released


def _wait_mid_database(
    engine: sa.Engine, machine: str, p: subprocess.Popen[bytes], deadline: float = 60
) -> str:
    """A db_path ``machine`` has written a batch of and holds a lease on, renewed at least once."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            rows = q(
                engine,
                'SELECT l.db_path FROM "DatabaseLeases" l JOIN "ProcessedDatabases" d '
                "ON d.db_path = l.db_path AND d.machine_name = :storage "
                "WHERE l.holder LIKE :holder AND d.status = 'IN_PROGRESS' "
                "AND d.checkpoint IS NOT NULL AND l.heartbeat > l.acquired_at + interval '0.3 s'",
                storage=SHARED,
                holder=f"{machine}:%",
            )
        except sa.exc.ProgrammingError:  # the tables are not created yet
            rows = []
        if rows:
            return str(rows[0].db_path)
        assert p.poll() is None, f"{machine} ended before it was caught mid-database"
        time.sleep(0.02)
    raise AssertionError(
        f"{machine} never held a renewed lease on a database mid-way within {deadline} s"
    )


def _wait_until_only_big_is_left(engine: sa.Engine, big: str, paths: set[str]) -> str:
    """The holder of ``big`` once it is mid-way (a checkpoint, a lease renewed at least once)
    and every other database is COMPLETED or held by that same holder: the others are idle."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            leases = {
                r.db_path: r.holder
                for r in q(
                    engine,
                    'SELECT db_path, holder FROM "DatabaseLeases" '
                    "WHERE heartbeat > acquired_at + interval '0.3 s'",
                )
            }
            done = {
                r.db_path
                for r in q(
                    engine, "SELECT db_path FROM \"ProcessedDatabases\" WHERE status = 'COMPLETED'"
                )
            }
            mid = q(
                engine,
                'SELECT 1 FROM "ProcessedDatabases" WHERE db_path = :big '
                "AND status = 'IN_PROGRESS' AND checkpoint IS NOT NULL",
                big=big,
            )
        except sa.exc.ProgrammingError:  # the tables are not created yet
            time.sleep(0.02)
            continue
        holder = leases.get(big)
        if holder and mid and all(p in done or leases.get(p) == holder for p in paths - {big}):
            return holder
        assert big not in done, "the big database finished before its holder could be killed"
        time.sleep(0.02)
    raise AssertionError("no machine was caught mid-way through the big database within 60 s")


def test_killed_machine_share_is_taken_over_after_its_lease_expires(
    pg_url: str, central: sa.Engine, tmp_path: Path, procs: list
) -> None:
    # four small databases and a big one; the machine caught on the big one dies while the
    # others have nothing left to do but wait for its lease
    root = tmp_path / "nodes"
    small = make_deployment(root, nodes=4, tokens_per_node=40, faults=False, seed=71)
    big_tokens = 3000
    make_deployment(tmp_path / "big", nodes=1, tokens_per_node=big_tokens, seed=72)
    (tmp_path / "big" / "node001").rename(root / "node900")
    big = str(root / "node900" / "Rubix" / "rubix.db")
    paths = all_db_paths(root)
    total = small.total_tokens + big_tokens
    machines = ["vm-1", "vm-2", "vm-3"]
    for m in machines:  # each its own host name: a dead holder's lease can only expire
        start(procs, root, pg_url, tmp_path / m, m, batch_size=2, host=f"host-{m}")
    holder = _wait_until_only_big_is_left(central, big, paths)
    dead = holder.split(":")[0]
    assert holder.startswith(f"{dead}:host-{dead}:")
    survivors = [m for m in machines if m != dead]
    victim = procs[machines.index(dead)]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = time.time()
    held = {
        r.db_path: as_unix(r.expires_at)
        for r in q(
            central, 'SELECT db_path, expires_at FROM "DatabaseLeases" WHERE holder = :h', h=holder
        )
    }
    assert big in held
    # renewed until the end: the lease outlives its holder by about the TTL
    assert held[big] - killed_at > TTL - 2 * HEARTBEAT - 1.0

    codes = {m: finish(procs[machines.index(m)], tmp_path / m) for m in survivors}
    assert codes == {m: 0 for m in survivors}

    evs = {m: events(tmp_path / m) for m in machines}
    started = Counter(e["db_path"] for m in machines for e in of(evs[m], "database_started"))
    assert set(started) == paths
    # only databases the dead machine held were started a second time
    twice = {path for path, n in started.items() if n > 1}
    assert big in twice and twice <= set(held) and max(started.values()) == 2
    # the big one was taken over only once its lease had expired (the survivors were idle
    # and retrying all along), resumed from its checkpoint, not read again from the start
    taken = [(m, e) for m in survivors for e in of(evs[m], "database_started", big)]
    assert len(taken) == 1
    by, start_event = taken[0]
    assert start_event["resumed"] is True
    assert start_event["ts"] >= held[big] - 0.05, start_event["ts"] - killed_at
    before = sum(e["records"] for e in of(evs[dead], "batch_written", big))
    after = sum(e["records"] for e in of(evs[by], "batch_written", big))
    assert before > 0 and 0 < after < big_tokens
    assert big_tokens - 2 <= before + after <= big_tokens  # SIGKILL may lose one batch's log line
    # every token synced once overall; every database done; nothing left leased
    written = sum(e["records"] for m in machines for e in of(evs[m], "batch_written"))
    assert total - 2 <= written <= total
    assert_tokens_once(central, total)
    processed = q(central, 'SELECT status FROM "ProcessedDatabases"')
    assert len(processed) == len(paths)
    assert {p.status for p in processed} == {"COMPLETED"}
    assert q(central, 'SELECT COUNT(*) FROM "DatabaseLeases"')[0][0] == 0
    sessions = {
        s.machine_name: s.status
        for s in q(central, 'SELECT machine_name, status FROM "SyncSessions"')
    }
    assert sessions == {dead: "RUNNING", **{m: "COMPLETED" for m in survivors}}


def test_dead_holder_on_same_host_is_taken_over_at_once(
    nodes: tuple[Path, int], pg_url: str, central: sa.Engine, tmp_path: Path, procs: list
) -> None:
    root, total = nodes
    long_ttl = 120.0
    victim = start(procs, root, pg_url, tmp_path / "vm-1", "vm-1", batch_size=1, ttl=long_ttl)
    caught = _wait_mid_database(central, "vm-1", victim)
    victim.kill()
    victim.wait()  # reaped: its pid no longer exists on this host
    expires = {
        r.db_path: as_unix(r.expires_at)
        for r in q(central, 'SELECT db_path, expires_at FROM "DatabaseLeases"')
    }
    assert expires[caught] - time.time() > long_ttl - 10  # far from expiring by itself

    # the next run on this host sees the holder's process is gone and takes its leases at once
    t0 = time.monotonic()
    nxt = start(procs, root, pg_url, tmp_path / "vm-2", "vm-2", batch_size=200, ttl=long_ttl)
    assert finish(nxt, tmp_path / "vm-2", timeout=long_ttl / 4) == 0  # did not wait for expiry
    assert time.monotonic() - t0 < long_ttl / 4
    evs = events(tmp_path / "vm-2")
    assert [e["resumed"] for e in of(evs, "database_started", caught)] == [True]
    assert_tokens_once(central, total)
    assert q(central, 'SELECT COUNT(*) FROM "DatabaseLeases"')[0][0] == 0


def test_machine_that_stalled_past_its_lease_stops_writing(
    pg_url: str, central: sa.Engine, tmp_path: Path, procs: list
) -> None:
    # a machine freezes (SIGSTOP) mid-database; its lease expires and another machine takes the
    # database over; when it wakes up it must not write another batch of it
    root = tmp_path / "nodes"
    info = make_deployment(root, nodes=1, tokens_per_node=3000, faults=False, seed=73)
    big = str(next(root.glob("*/Rubix/rubix.db")))
    machines = ["vm-1", "vm-2"]
    for m in machines:
        start(procs, root, pg_url, tmp_path / m, m, batch_size=2, host=f"host-{m}")
    holder = _wait_until_only_big_is_left(central, big, {big})
    frozen = holder.split(":")[0]
    other = next(m for m in machines if m != frozen)
    sleeper = procs[machines.index(frozen)]
    sleeper.send_signal(signal.SIGSTOP)
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            rows = q(central, 'SELECT holder FROM "DatabaseLeases" WHERE db_path = :p', p=big)
            if rows and rows[0].holder.startswith(f"{other}:"):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"{other} never took over the frozen machine's database")
    finally:
        woke_at = time.time()
        sleeper.send_signal(signal.SIGCONT)
    codes = {m: finish(procs[machines.index(m)], tmp_path / m) for m in machines}
    assert codes == {frozen: 0, other: 0}

    evs = {m: events(tmp_path / m) for m in machines}
    # at most the one batch whose write the freeze interrupted (same tokens, idempotent) ends
    # after waking; every later one is dropped instead of being written on two machines
    late = [e for e in of(evs[frozen], "batch_written", big) if e["ts"] >= woke_at]
    assert len(late) <= 1, f"{len(late)} batches written after the lease was lost"
    skipped = of(evs[frozen], "database_skipped", big)
    assert [e["reason"] for e in skipped] == ["lease lost to another machine"]
    assert any("lease" in e["message"] for e in of(evs[frozen], "error"))
    assert [e["resumed"] for e in of(evs[other], "database_started", big)] == [True]
    assert_tokens_once(central, info.total_tokens)
    assert [r.status for r in q(central, 'SELECT status FROM "ProcessedDatabases"')] == [
        "COMPLETED"
    ]
    assert q(central, 'SELECT COUNT(*) FROM "DatabaseLeases"')[0][0] == 0
