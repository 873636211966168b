"""analyze_logs against hand-counted logs, and the bulk path against full parsing."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rubix_sync.analyze import _scan, analyze_logs, report_dict
from rubix_sync.analyze._report import Aggregator
from rubix_sync.errors import ConfigError
from rubix_sync.events import (
    BatchWritten,
    DatabaseFinished,
    DatabaseStarted,
    ErrorOccurred,
    EventBus,
    FetchFailed,
    SessionFinished,
    SessionStarted,
    ValidationFailed,
)
from rubix_sync.models import Counters
from rubix_sync.observe import LogListener, setup_logging

from .crafted import write_crafted

JAN17 = datetime(2024, 1, 17, tzinfo=timezone.utc)


@pytest.fixture(params=[(1 << 20, 16 * 1024), (300, 100)], ids=["1MiB-chunks", "tiny-chunks"])
def crafted(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The crafted logs, read with the real chunk size and with tiny chunks (every path runs)."""
    chunk, min_split = request.param
    monkeypatch.setattr(_scan, "CHUNK", chunk)
    monkeypatch.setattr(_scan, "MIN_SPLIT", min_split)
    return write_crafted(tmp_path / "logs")


def test_all_logs_hand_count(crafted: Path) -> None:
    r = analyze_logs(crafted, now=JAN17)
    # S1: batches 1000 + 1000 + 500; S2: 3600
    assert r.records == 6100
    assert (r.ipfs_success, r.ipfs_failed) == (990 + 995 + 500 + 3564, 10 + 5 + 36)
    assert r.ipfs_success_rate == pytest.approx(100 * 6049 / 6100)
    assert (r.sql_success, r.sql_failed, r.sql_errors) == (6100, 1000, 1000)
    assert r.sql_success_rate == pytest.approx(100 * 6100 / 7100)
    assert r.validation_failed == 5
    assert r.validation_pass_rate == pytest.approx(100 * 6095 / 6100)
    assert r.bulk_inserts == 4
    # 15 + 36 fetch failures, 5 validation failures, 3 error events
    assert (r.fetch_failures, r.validation_failures, r.error_events) == (51, 5, 3)
    assert r.total_errors == 59
    assert r.error_rate == pytest.approx(100 * 59 / 6100)
    assert r.top_error_types() == [
        ("ipfs", 39),
        ("timeout", 12),
        ("validation", 5),
        ("database", 1),
        ("connection", 1),
        ("other", 1),
    ]
    # S1 finished: 4800 s; S2 running: 10:00:00 .. last event 10:40:00
    assert r.active_seconds == pytest.approx(4800 + 2400)
    assert r.average_rate == pytest.approx(6100 / 7200)
    hourly = [
        (h.hour.strftime("%Y-%m-%d %H"), h.records, h.active_seconds, h.samples, h.errors)
        for h in r.hourly
    ]
    assert hourly == [
        ("2024-01-15 08", 2000, 3600.0, 2, 20),
        ("2024-01-15 09", 500, 1200.0, 1, 3),
        ("2024-01-16 10", 3600, 2400.0, 1, 36),
    ]
    assert (r.databases_completed, r.databases_failed, r.databases_skipped) == (1, 1, 1)
    assert [(m.machine_name, m.sessions, m.records) for m in r.machines] == [
        ("VM-1", 1, 2500),
        ("VM-2", 1, 3600),
    ]
    s1, s2 = r.sessions
    assert (s1.session_id, s1.status, s1.duration_seconds) == (
        "s1session0000001",
        "COMPLETED",
        4800,
    )
    assert s1.counters is not None and s1.counters["records"] == s1.records == 2500
    assert (s2.status, s2.counters) == ("RUNNING", None)
    # garbage, [1, 2], ts "soon", records "many", the truncated last line
    assert r.skipped_lines == 5
    assert r.files == 3
    assert r.note is None


def test_window_applies_to_every_section(crafted: Path) -> None:
    r = analyze_logs(crafted, hours=3, now=datetime(2024, 1, 16, 12, tzinfo=timezone.utc))
    assert (r.records, r.ipfs_failed, r.bulk_inserts, r.total_errors) == (3600, 36, 1, 36)
    assert r.active_seconds == pytest.approx(2400)
    assert [h.hour.hour for h in r.hourly] == [10]
    assert [s.session_id for s in r.sessions] == ["s2session0000002"]
    assert [m.machine_name for m in r.machines] == ["VM-2"]
    assert r.databases_completed == r.databases_failed == r.databases_skipped == 0

    half = analyze_logs(crafted, hours=0.5, now=datetime(2024, 1, 15, 8, 30, tzinfo=timezone.utc))
    # 08:00 - 08:30: both node007 batches, the session not finished yet (last event 08:30:00)
    assert (half.records, half.fetch_failures, half.validation_failures) == (2000, 15, 5)
    assert half.active_seconds == pytest.approx(1800)
    assert half.databases_skipped == 1 and half.databases_completed == 1
    assert half.files == 3  # the 15th, its backup, and the 16th (one day of margin)
    assert half.total_errors == 20


def test_errors_mode_lists_errors_with_correlation_chains(crafted: Path) -> None:
    r = analyze_logs(crafted, now=JAN17, errors=True)
    assert r.errors is not None
    rows = [(e.error_type, e.count, e.node, e.chain) for e in r.errors]
    assert rows == [
        (
            "timeout",
            12,
            "node007",
            ["db000001 (database node007)", "s1sessio (session s1session0000001)"],
        ),
        (
            "ipfs",
            3,
            "node007",
            ["db000001 (database node007)", "s1sessio (session s1session0000001)"],
        ),
        (
            "validation",
            5,
            "node007",
            ["db000001 (database node007)", "s1sessio (session s1session0000001)"],
        ),
        ("database skipped", 1, "node009", []),
        (
            "database",
            1,
            "node008",
            ["e0000001", "db000002 (database node008)", "s1sessio (session s1session0000001)"],
        ),
        ("connection", 1, "", []),
        ("other", 1, "", []),
        (
            "database failed",
            1,
            "node008",
            ["db000002 (database node008)", "s1sessio (session s1session0000001)"],
        ),
        (
            "ipfs",
            36,
            "node001",
            ["db000003 (database node001)", "s2sessio (session s2session0000002)"],
        ),
    ]
    # the same numbers as the normal report
    normal = report_dict(analyze_logs(crafted, now=JAN17))
    full = report_dict(r)
    full.pop("error_list")
    assert full == normal


def test_missing_dir_and_empty_window(tmp_path: Path, crafted: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist. Use --logs-dir"):
        analyze_logs(tmp_path / "nope")
    with pytest.raises(ConfigError, match="--hours must be a positive"):
        analyze_logs(crafted, hours=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    r = analyze_logs(empty, hours=24)
    assert (r.records, r.files, r.ipfs_success_rate, r.error_rate) == (0, 0, None, None)
    assert r.note == f"No sync_events_*.jsonl files for this period in {empty}."
    r = analyze_logs(crafted, hours=1, now=datetime(2024, 1, 16, 23, tzinfo=timezone.utc))
    assert r.events == 0 and r.files == 3
    assert r.note == "No events in the analysis period."
    r = analyze_logs(crafted, hours=24, now=datetime(2024, 3, 1, tzinfo=timezone.utc))
    assert r.files == 0 and r.note is not None and r.note.startswith("No sync_events_")


def _listener_logs(logs: Path, n_batches: int, seed: int) -> dict[str, int]:
    """Write a session through the real LogListener; return the true totals."""
    rnd = random.Random(seed)
    t = 1705305600.0  # 08:00:00
    bus = EventBus()
    bus.subscribe(LogListener("VM-bench"))
    totals = dict(records=0, ok=0, failed=0, vfail=0, timeouts=0, errors=0)
    with setup_logging(logs, clock=lambda: t):
        bus.emit(
            SessionStarted(
                ts=t,
                session_id="benchsession0001",
                machine_name="VM-bench",
                public_ip=None,
                total_databases=1,
                roots=("/d",),
                database_kind="sqlite",
            )
        )
        bus.emit(
            DatabaseStarted(
                ts=t, node="n1", db_path="/d/n1", correlation_id="c0ffee00", estimated_tokens=0
            )
        )
        for _ in range(n_batches):
            failed = rnd.randint(0, 30)
            vfail = rnd.randint(0, 20)
            for i in range(failed):
                t += 0.05
                reason = rnd.choice(["timeout", "not_found", "cid_mismatch"])
                totals["timeouts"] += reason == "timeout"
                bus.emit(
                    FetchFailed(
                        ts=t,
                        node="n1",
                        token_id=f"Qm{i}",
                        token_type="RBT",
                        reason=reason,
                        detail="d",
                        correlation_id="c0ffee00",
                    )
                )
            for i in range(vfail):
                t += 0.05
                bus.emit(
                    ValidationFailed(
                        ts=t,
                        node="n1",
                        token_id=f"Qm{i}",
                        token_type="RBT",
                        errors=("bad",),
                        correlation_id="c0ffee00",
                    )
                )
            if rnd.random() < 0.05:
                bus.emit(
                    ErrorOccurred(
                        ts=t, error_type="timeout", message="slow", correlation_id="c0ffee00"
                    )
                )
                totals["errors"] += 1
            t += 2.0
            bus.emit(
                BatchWritten(
                    ts=t,
                    node="n1",
                    db_path="/d/n1",
                    correlation_id="c0ffee00",
                    records=1000,
                    ipfs_success=1000 - failed,
                    ipfs_failed=failed,
                    validation_failed=vfail,
                    fetch_seconds=1.5,
                    write_seconds=0.3,
                    fetcher="blockstore",
                )
            )
            totals["records"] += 1000
            totals["ok"] += 1000 - failed
            totals["failed"] += failed
            totals["vfail"] += vfail
        c = Counters(
            records=totals["records"],
            ipfs_success=totals["ok"],
            ipfs_failed=totals["failed"],
            validation_failed=totals["vfail"],
        )
        bus.emit(
            DatabaseFinished(
                ts=t,
                node="n1",
                db_path="/d/n1",
                correlation_id="c0ffee00",
                status="COMPLETED",
                records=totals["records"],
                ipfs_success=totals["ok"],
                ipfs_failed=totals["failed"],
                validation_failed=totals["vfail"],
                duration_seconds=t - 1705305600.0,
                size_bytes=1,
            )
        )
        bus.emit(
            SessionFinished(
                ts=t,
                session_id="benchsession0001",
                status="COMPLETED",
                counters=c,
                duration_seconds=t - 1705305600.0,
            )
        )
    return totals


@pytest.fixture(scope="module")
def listener_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    logs = tmp_path_factory.mktemp("listener") / "logs"
    return logs, _listener_logs(logs, n_batches=400, seed=7)  # ~3 hours of events


@pytest.mark.parametrize("chunk", [1 << 20, 4096, 700])
def test_bulk_path_equals_full_parse_and_the_truth(
    listener_logs: tuple[Path, dict[str, int]], chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs, totals = listener_logs
    monkeypatch.setattr(_scan, "CHUNK", chunk)
    files = _scan.event_files(logs)
    agg = Aggregator()
    stats = _scan.Scanner(agg, float("-inf"), float("inf")).scan(files)
    assert stats.bulk_chunks > 0  # the fast path ran
    assert stats.skipped_lines == 0
    fast = analyze_logs(logs, now=JAN17)
    full = analyze_logs(logs, now=JAN17, errors=True)
    assert fast.records == full.records == totals["records"]
    assert fast.ipfs_failed == fast.fetch_failures == full.fetch_failures == totals["failed"]
    assert fast.validation_failures == full.validation_failures == totals["vfail"]
    assert fast.error_types == full.error_types
    assert fast.error_types["timeout"] == totals["timeouts"] + totals["errors"]
    assert [(h.hour, h.records, h.errors, h.samples) for h in fast.hourly] == [
        (h.hour, h.records, h.errors, h.samples) for h in full.hourly
    ]
    s = fast.sessions[0]
    assert s.counters is not None
    assert s.counters["records"] == fast.records
    assert s.counters["ipfs_failed"] == fast.ipfs_failed
    assert s.counters["validation_failed"] == fast.validation_failed
    assert fast.average_rate == pytest.approx(totals["records"] / s.duration_seconds)


@pytest.mark.parametrize("machine", ['VM "Ø" 1', "VM-Ø-1"])
def test_odd_machine_names_agree_between_fast_and_full_paths(tmp_path: Path, machine: str) -> None:
    logs = tmp_path / "logs"
    t = 1705305600.0
    bus = EventBus()
    bus.subscribe(LogListener(machine))
    with setup_logging(logs, clock=lambda: t):
        bus.emit(
            SessionStarted(
                ts=t,
                session_id="sess-ø-1",
                machine_name=machine,
                public_ip=None,
                total_databases=1,
                roots=(),
                database_kind="sqlite",
            )
        )
        for i in range(50):
            bus.emit(
                FetchFailed(
                    ts=t + i,
                    node="n",
                    token_id="Qm",
                    token_type="RBT",
                    reason="timeout",
                    detail="",
                    correlation_id="c",
                )
            )
            bus.emit(
                BatchWritten(
                    ts=t + i + 0.5,
                    node="n",
                    db_path="/d",
                    correlation_id="c",
                    records=10,
                    ipfs_success=9,
                    ipfs_failed=1,
                    validation_failed=0,
                    fetch_seconds=1e-05,
                    write_seconds=0.25,
                    fetcher="rpc",
                )
            )
    fast = analyze_logs(logs, now=JAN17)
    full = analyze_logs(logs, now=JAN17, errors=True)
    assert [(m.machine_name, m.sessions, m.records) for m in fast.machines] == [(machine, 1, 500)]
    assert report_dict(fast)["machines"] == report_dict(full)["machines"]
    assert report_dict(fast)["sessions"] == report_dict(full)["sessions"]
    assert fast.error_types["timeout"] == 50
