"""The terminal side: plain progress lines, the live display, and the summary."""

from __future__ import annotations

import io

from rubix_sync import events as ev
from rubix_sync.console import ProgressDisplay, format_summary
from rubix_sync.models import Counters
from rubix_sync.pipeline.runner import SyncResult


def _progress(done: int, records: int) -> ev.Progress:
    c = Counters(total_databases=4, databases_done=done, records=records, ipfs_failed=2)
    return ev.Progress(counters=c, elapsed_seconds=10.0, rate=records / 10, percent=done * 25.0)


def test_plain_progress_lines():
    out = io.StringIO()
    display = ProgressDisplay(out, live=False)
    display(_progress(1, 500))
    display(_progress(4, 2000))
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "Progress: 1/4 databases (25.0%), 500 records, 50.0 records/s, IPFS failed 2, ETA 30s"
    )
    assert lines[1].startswith("Progress: 4/4 databases (100.0%), 2,000 records")


def test_live_display_tracks_nodes_and_finishes():
    out = io.StringIO()
    display = ProgressDisplay(out, live=True)
    display(
        ev.SessionStarted(
            session_id="s",
            machine_name="m",
            public_ip=None,
            total_databases=4,
            roots=("/r",),
            database_kind="sqlite",
        )
    )
    display(
        ev.DatabaseStarted(
            node="node1", db_path="/r/node1", correlation_id="c", estimated_tokens=100
        )
    )
    assert "node1" in display._nodes
    display(
        ev.BatchWritten(
            node="node1",
            db_path="/r/node1",
            correlation_id="c",
            records=100,
            ipfs_success=100,
            ipfs_failed=0,
            validation_failed=0,
            fetch_seconds=0.1,
            write_seconds=0.1,
            fetcher="blockstore",
        )
    )
    overall = display._progress.tasks[0]
    assert overall.fields["rate"].startswith("100 records, ")  # moves on between Progress events
    display(
        ev.DatabaseFinished(
            node="node1",
            db_path="/r/node1",
            correlation_id="c",
            status="COMPLETED",
            records=100,
            ipfs_success=100,
            ipfs_failed=0,
            validation_failed=0,
            duration_seconds=1.0,
            size_bytes=1,
        )
    )
    assert "node1" not in display._nodes
    display(_progress(4, 100))
    display(
        ev.SessionFinished(
            session_id="s",
            status="COMPLETED",
            counters=Counters(total_databases=4, databases_done=4),
            duration_seconds=1.0,
        )
    )
    assert display._progress is None
    assert "databases" in out.getvalue()


def test_summary_names_failed_databases():
    c = Counters(
        total_databases=3,
        databases_done=3,
        databases_skipped=1,
        databases_failed=1,
        records=1200,
        ipfs_success=1190,
        ipfs_failed=10,
        validation_failed=3,
    )
    result = SyncResult("abc", "COMPLETED", c, 2.0, ["node9: not an SQLite database"])
    text = format_summary(result, database="sqlite:///x.db", logs_dir="logs")
    assert "Databases: 3 found, 1 synced, 1 unchanged, 1 failed" in text
    assert "Records: 1,200 (600.0 records/s)" in text
    assert "IPFS: 1,190 fetched and verified, 10 failed" in text
    assert "  node9: not an SQLite database" in text
    assert result.exit_code == 1
    assert SyncResult("a", "COMPLETED", Counters(records=5), 1.0).exit_code == 0
    assert SyncResult("a", "INTERRUPTED", Counters(), 1.0).exit_code == 130
