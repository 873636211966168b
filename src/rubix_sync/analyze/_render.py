"""Present a :class:`Report`: the guide's text layout, JSON with the same numbers, hourly CSV."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._report import Report

RULE = "=" * 80
SUB = "-" * 40
CSV_COLUMNS = (
    "hour",
    "records",
    "active_seconds",
    "records_per_sec",
    "samples",
    "ipfs_success",
    "ipfs_failed",
    "validation_failed",
    "errors",
)


def _ts(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _pct(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}%"


def _period(r: Report) -> str:
    if r.hours is None:
        return "All logs"
    unit = "hour" if r.hours == 1 else "hours"
    return f"Last {r.hours:g} {unit}"


def _header(r: Report, title: str) -> list[str]:
    return [
        RULE,
        title,
        f"Generated: {r.generated.strftime('%Y-%m-%d %H:%M:%S')}",
        f"Analysis Period: {_period(r)}",
        RULE,
        "",
    ]


def _error_section(r: Report) -> list[str]:
    out = [
        "⚠️  ERROR ANALYSIS",
        SUB,
        f"Total Errors: {r.total_errors:,}",
        f"Error Rate: {_pct(r.error_rate, 2)}",
        "",
        "Top Error Types:",
    ]
    top = r.top_error_types()
    out += [f"  {t}: {n:,}" for t, n in top] or ["  (none)"]
    return out


def _footer(r: Report) -> list[str]:
    out = [
        "",
        f"Log files: {r.files:,} ({r.bytes_read / 1e6:.1f} MB), lines: {r.lines:,}, "
        f"events: {r.events:,}",
        f"Skipped lines: {r.skipped_lines:,}",
    ]
    if r.note:
        out.append(f"Note: {r.note}")
    return out


def render_text(r: Report) -> str:
    """The guide's "Sample Analysis Output" layout, plus machines, sessions and input."""
    if r.errors is not None:
        return render_errors(r)
    out = _header(r, "RUBIX TOKEN SYNC - LOG ANALYSIS REPORT")
    out += [
        "📊 PERFORMANCE SUMMARY",
        SUB,
        f"Total Records Processed: {r.records:,}",
        f"Average Processing Rate: {r.average_rate:.1f} records/sec",
        f"IPFS Success Rate: {_pct(r.ipfs_success_rate)}",
        f"SQL Success Rate: {_pct(r.sql_success_rate)}",
        f"Validation Pass Rate: {_pct(r.validation_pass_rate)}",
        "",
        "🔍 OPERATION BREAKDOWN",
        SUB,
        f"IPFS Operations: {r.ipfs_success:,} success, {r.ipfs_failed:,} failed",
        f"SQL Operations: {r.sql_success:,} success, {r.sql_failed:,} failed",
        f"Bulk Inserts: {r.bulk_inserts:,} operations",
        "",
    ]
    out += _error_section(r)
    out += ["", "📈 HOURLY PERFORMANCE TRENDS", SUB]
    out += [
        f"  {h.hour.strftime('%Y-%m-%d %H:00')}: {h.rate:.1f} records/sec (samples: {h.samples})"
        for h in r.hourly
    ] or ["  (no data)"]
    out += ["", "🖥️ MACHINES AND SESSIONS", SUB, f"Machines: {len(r.machines):,}"]
    for m in r.machines:
        out.append(
            f"  {m.machine_name or '(unknown)'}: {m.sessions:,} "
            f"session{'' if m.sessions == 1 else 's'}, {m.records:,} records"
        )
    out.append(f"Sessions: {len(r.sessions):,}")
    for s in r.sessions:
        dur = s.duration_seconds if s.duration_seconds is not None else s.active_seconds
        line = (
            f"  {s.session_id} on {s.machine_name or '(unknown)'}: {s.status}, started "
            f"{_ts(s.started)}, {dur / 60:.1f} min, {s.records:,} records"
        )
        if s.counters is not None and "records" in s.counters:
            line += f" (session counters: {s.counters['records']:,} records)"
        out.append(line)
    out.append(
        f"Databases: {r.databases_completed:,} completed, {r.databases_failed:,} failed, "
        f"{r.databases_skipped:,} skipped"
    )
    out += _footer(r)
    return "\n".join(out) + "\n"


def render_errors(r: Report) -> str:
    """``--errors-only``: the error analysis and every error with its correlation chain."""
    out = _header(r, "RUBIX TOKEN SYNC - LOG ANALYSIS REPORT (ERRORS ONLY)")
    out += _error_section(r)
    out += ["", "❌ ERRORS (oldest first; per-token failures grouped by correlation ID)", SUB]
    for e in r.errors or []:
        count = f" x{e.count:,}" if e.count > 1 else ""
        where = " ".join(x for x in (e.machine_name, e.node) if x) or "-"
        out.append(f"{_ts(e.ts)} {e.error_type}{count} {where}: {e.message}")
        if e.chain:
            out.append("    chain: " + " <- ".join(e.chain))
    if not r.errors:
        out.append("  (none)")
    out += _footer(r)
    return "\n".join(out) + "\n"


def report_dict(r: Report) -> dict[str, Any]:
    """The report's numbers as plain JSON types (``--format json``)."""
    d: dict[str, Any] = {
        "generated": r.generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "analysis_period": _period(r),
        "hours": r.hours,
        "window_start": r.window_start.isoformat() if r.window_start else None,
        "window_end": r.window_end.isoformat() if r.window_end else None,
        "performance": {
            "total_records": r.records,
            "active_seconds": round(r.active_seconds, 3),
            "average_rate": round(r.average_rate, 3),
            "ipfs_success_rate": r.ipfs_success_rate,
            "sql_success_rate": r.sql_success_rate,
            "validation_pass_rate": r.validation_pass_rate,
        },
        "operations": {
            "ipfs_success": r.ipfs_success,
            "ipfs_failed": r.ipfs_failed,
            "sql_success": r.sql_success,
            "sql_failed": r.sql_failed,
            "sql_errors": r.sql_errors,
            "validation_failed": r.validation_failed,
            "bulk_inserts": r.bulk_inserts,
        },
        "errors": {
            "total": r.total_errors,
            "rate": r.error_rate,
            "fetch_failures": r.fetch_failures,
            "validation_failures": r.validation_failures,
            "error_events": r.error_events,
            "types": dict(r.error_types),
        },
        "hourly": [_hour_row(h) for h in r.hourly],
        "databases": {
            "completed": r.databases_completed,
            "failed": r.databases_failed,
            "skipped": r.databases_skipped,
        },
        "machines": [
            {
                "machine_name": m.machine_name,
                "sessions": m.sessions,
                "records": m.records,
            }
            for m in r.machines
        ],
        "sessions": [
            {
                "session_id": s.session_id,
                "machine_name": s.machine_name,
                "status": s.status,
                "started": _ts(s.started) if s.started is not None else None,
                "duration_seconds": s.duration_seconds,
                "active_seconds": round(s.active_seconds, 3),
                "records": s.records,
                "counters": s.counters,
            }
            for s in r.sessions
        ],
        "input": {
            "files": r.files,
            "bytes": r.bytes_read,
            "lines": r.lines,
            "events": r.events,
            "skipped_lines": r.skipped_lines,
        },
        "note": r.note,
    }
    if r.errors is not None:
        d["error_list"] = [
            {
                "ts": _ts(e.ts),
                "error_type": e.error_type,
                "count": e.count,
                "machine_name": e.machine_name,
                "node": e.node,
                "message": e.message,
                "correlation_id": e.correlation_id,
                "chain": e.chain,
            }
            for e in r.errors
        ]
    return d


def _hour_row(h: Any) -> dict[str, Any]:
    return {
        "hour": h.hour.strftime("%Y-%m-%d %H:00"),
        "records": h.records,
        "active_seconds": round(h.active_seconds, 3),
        "records_per_sec": round(h.rate, 3),
        "samples": h.samples,
        "ipfs_success": h.ipfs_success,
        "ipfs_failed": h.ipfs_failed,
        "validation_failed": h.validation_failed,
        "errors": h.errors,
    }


def render_json(r: Report) -> str:
    return json.dumps(report_dict(r), indent=2, ensure_ascii=False) + "\n"


def write_csv(r: Report, path: Path | str) -> int:
    """Write one row per hour (:data:`CSV_COLUMNS`); return the number of rows."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for h in r.hourly:
            w.writerow(_hour_row(h))
    return len(r.hourly)
