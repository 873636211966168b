"""``rubix-sync analyze`` through click's CliRunner: exact output and exit codes."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rubix_sync.analyze.cli import analyze

from .crafted import write_crafted

NOW = ["--now", "2024-01-17T00:00:00"]

EXPECTED_TEXT = """\
================================================================================
RUBIX TOKEN SYNC - LOG ANALYSIS REPORT
Generated: 2024-01-17 00:00:00
Analysis Period: All logs
================================================================================

📊 PERFORMANCE SUMMARY
----------------------------------------
Total Records Processed: 6,100
Average Processing Rate: 0.8 records/sec
IPFS Success Rate: 99.2%
SQL Success Rate: 85.9%
Validation Pass Rate: 99.9%

🔍 OPERATION BREAKDOWN
----------------------------------------
IPFS Operations: 6,049 success, 51 failed
SQL Operations: 6,100 success, 1,000 failed
Bulk Inserts: 4 operations

⚠️  ERROR ANALYSIS
----------------------------------------
Total Errors: 59
Error Rate: 0.97%

Top Error Types:
  ipfs: 39
  timeout: 12
  validation: 5
  database: 1
  connection: 1
  other: 1

📈 HOURLY PERFORMANCE TRENDS
----------------------------------------
  2024-01-15 08:00: 0.6 records/sec (samples: 2)
  2024-01-15 09:00: 0.4 records/sec (samples: 1)
  2024-01-16 10:00: 1.5 records/sec (samples: 1)

🖥️ MACHINES AND SESSIONS
----------------------------------------
Machines: 2
  VM-1: 1 session, 2,500 records
  VM-2: 1 session, 3,600 records
Sessions: 2
  s1session0000001 on VM-1: COMPLETED, started 2024-01-15 08:00:00, 80.0 min, 2,500 records \
(session counters: 2,500 records)
  s2session0000002 on VM-2: RUNNING, started 2024-01-16 10:00:00, 40.0 min, 3,600 records
Databases: 1 completed, 1 failed, 1 skipped

Log files: 3 (0.0 MB), lines: 79, events: 73
Skipped lines: 5
"""


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return write_crafted(tmp_path / "logs")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(analyze, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_text_report_is_the_guides_layout(logs: Path) -> None:
    code, out, err = run("--logs-dir", str(logs), *NOW)
    assert (code, err) == (0, "")
    assert out == EXPECTED_TEXT


def test_json_has_the_same_numbers(logs: Path) -> None:
    code, out, _ = run("--logs-dir", str(logs), "--format", "json", *NOW)
    assert code == 0
    d = json.loads(out)
    assert d["performance"]["total_records"] == 6100
    assert round(d["performance"]["average_rate"], 1) == 0.8
    assert round(d["performance"]["ipfs_success_rate"], 1) == 99.2
    assert round(d["performance"]["sql_success_rate"], 1) == 85.9
    assert round(d["performance"]["validation_pass_rate"], 1) == 99.9
    assert d["operations"] == {
        "ipfs_success": 6049,
        "ipfs_failed": 51,
        "sql_success": 6100,
        "sql_failed": 1000,
        "sql_errors": 1000,
        "validation_failed": 5,
        "bulk_inserts": 4,
    }
    assert d["errors"]["total"] == 59
    assert d["errors"]["types"] == {
        "timeout": 12,
        "ipfs": 39,
        "validation": 5,
        "database": 1,
        "connection": 1,
        "other": 1,
    }
    assert [(h["hour"], h["samples"], h["errors"]) for h in d["hourly"]] == [
        ("2024-01-15 08:00", 2, 20),
        ("2024-01-15 09:00", 1, 3),
        ("2024-01-16 10:00", 1, 36),
    ]
    assert d["input"]["skipped_lines"] == 5
    assert [s["session_id"] for s in d["sessions"]] == ["s1session0000001", "s2session0000002"]


def test_hours_window_and_csv_export(logs: Path, tmp_path: Path) -> None:
    out_csv = tmp_path / "metrics.csv"
    code, out, _ = run(
        "--logs-dir",
        str(logs),
        "--hours",
        "48",
        "--export-csv",
        str(out_csv),
        "--now",
        "2024-01-16T12:00:00Z",
    )
    assert code == 0
    assert "Analysis Period: Last 48 hours\n" in out
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [
        (r["hour"], r["records"], r["records_per_sec"], r["samples"], r["errors"]) for r in rows
    ] == [
        ("2024-01-15 08:00", "2000", "0.556", "2", "20"),
        ("2024-01-15 09:00", "500", "0.417", "1", "3"),
        ("2024-01-16 10:00", "3600", "1.5", "1", "36"),
    ]
    code, out, _ = run("--logs-dir", str(logs), "--hours", "3", "--now", "2024-01-16T12:00:00")
    assert "Total Records Processed: 3,600\n" in out
    assert "Sessions: 1\n" in out
    assert "  2024-01-16 10:00: 1.5 records/sec (samples: 1)\n" in out
    assert "2024-01-15" not in out


def test_errors_only_lists_correlation_chains(logs: Path) -> None:
    code, out, _ = run("--logs-dir", str(logs), "--errors-only", *NOW)
    assert code == 0
    assert "📊 PERFORMANCE SUMMARY" not in out
    assert "Total Errors: 59\n" in out
    assert (
        "2024-01-15 09:05:00 database VM-1 node008: Connection timeout to Azure SQL\n"
        "    chain: e0000001 <- db000002 (database node008) <- s1sessio "
        "(session s1session0000001)\n"
    ) in out
    assert (
        "2024-01-15 08:05:00 timeout x12 VM-1 node007: IPFS fetch failed (timeout): "
        "token QmToktimeout000: timeout detail 0\n"
    ) in out
    assert "2024-01-15 08:30:00 database skipped VM-1 node009: database skipped: " in out
    code, out, _ = run("--logs-dir", str(logs), "--errors-only", "--format", "json", *NOW)
    d = json.loads(out)
    assert len(d["error_list"]) == 9
    assert sum(e["count"] for e in d["error_list"]) == 59 + 2  # + db failed + db skipped


def test_plot_writes_a_png(logs: Path, tmp_path: Path) -> None:
    png = tmp_path / "trend.png"
    code, _, err = run("--logs-dir", str(logs), "--plot", str(png), *NOW)
    assert (code, err) == (0, "")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5000


def test_plot_without_matplotlib_names_the_extra(
    logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    code, out, err = run("--logs-dir", str(logs), "--plot", str(tmp_path / "x.png"), *NOW)
    assert code == 2
    assert out == ""
    assert err == (
        "Error: Plotting (--plot) needs an optional dependency. Install it with: "
        "pip install 'rubix-sync[plot]'\n"
    )


def test_bad_input_is_one_line(tmp_path: Path, logs: Path) -> None:
    code, out, err = run("--logs-dir", str(tmp_path / "missing"))
    assert (code, out) == (2, "")
    assert err == (
        f"Error: Logs directory '{tmp_path / 'missing'}' does not exist. "
        "Use --logs-dir to point at the directory holding sync_events_*.jsonl.\n"
    )
    code, _, err = run("--logs-dir", str(logs), "--hours", "-1")
    assert code == 2 and "Invalid value for '--hours'" in err
    code, _, err = run(
        "--logs-dir", str(logs), "--export-csv", str(tmp_path / "no" / "x.csv"), *NOW
    )
    assert code == 2
    assert err.startswith("Error: Cannot write the CSV file ") and err.count("\n") == 1


def test_empty_window_prints_zeros_and_a_note(tmp_path: Path) -> None:
    empty = tmp_path / "logs"
    empty.mkdir()
    code, out, _ = run("--logs-dir", str(empty), "--hours", "24", *NOW)
    assert code == 0
    assert "Total Records Processed: 0\n" in out
    assert "IPFS Success Rate: n/a\n" in out
    assert "Error Rate: n/a\n" in out
    assert "  (no data)\n" in out
    assert out.endswith(
        f"Skipped lines: 0\nNote: No sync_events_*.jsonl files for this period in {empty}.\n"
    )
