"""The log analyzer: numbers from the JSON event stream (``sync_events_YYYYMMDD.jsonl``).

:func:`analyze_logs` streams the event files (never loading one whole) and returns a
:class:`Report`; :func:`render_text`, :func:`render_json`, :func:`write_csv` and
:func:`write_plot` present it; ``rubix-sync analyze`` wires flags to them.

Window. With ``hours``, events whose ``ts`` lies in ``[now - hours, now]``; without, every
event in the directory. Files are picked by the date in their name (one day of margin), then
each line is filtered by ``ts``. Every section uses the same window. Times are UTC.

Definitions (every number is a sum over the events in the window):

- **Total Records Processed** = Σ ``batch_written.records`` (rows upserted into the central DB).
- **Average Processing Rate** = records / active seconds. A session's active span is
  ``[finished.ts - duration_seconds, finished.ts]`` when its ``session_finished`` is in the
  window, else ``[session_started.ts (or its first event, a batch counting from ts - fetch -
  write seconds), its last event]``; spans are clipped to the window and summed over sessions
  (two machines running at once count twice the seconds: the rate is per session).
- **IPFS Success Rate** = Σ ``batch_written.ipfs_success`` / Σ (``ipfs_success`` +
  ``ipfs_failed``). IPFS Operations shows both sums.
- **SQL Operations**: success = records; failed = Σ ``int(context["records"])`` over ``error``
  events with ``error_type == "database"`` that carry it. **SQL Success Rate** = success /
  (success + failed). "SQL errors" = failed, the records the central database rejected: the
  same number as the sync's own ``sql_errors`` counter (a ``database`` error without
  ``records``, e.g. an unreadable node database, counts only under the error types).
- **Validation Pass Rate** = (records - Σ ``batch_written.validation_failed``) / records.
- **Bulk Inserts** = number of ``batch_written`` events.
- **Total Errors** = ``fetch_failed`` events + ``validation_failed`` events + ``error`` events.
  **Error Rate** = Total Errors / records. **Error types**: a ``fetch_failed`` with reason
  ``timeout`` is *timeout*, any other reason *ipfs*; ``validation_failed`` is *validation*; an
  ``error`` event counts under its ``error_type`` (timeout, ipfs, validation, database,
  connection) or *other*.
- **Hourly trends**: per UTC hour, records of the ``batch_written`` events in that hour /
  active seconds of the sessions within that hour; ``samples`` = ``batch_written`` events in it;
  ``errors`` (CSV, JSON, plot) = error events in it.
- **Databases**: ``database_finished`` COMPLETED / other status, ``database_skipped``.
- **Sessions**: per ``session_id``: machine, start, status, duration and records from the logs,
  beside the session's own ``counters`` from ``session_finished``.
- **Skipped lines**: lines read that are not a JSON object with a string ``event`` and a
  numeric ``ts``, or whose fields have the wrong type (e.g. a line cut short by a crash).
  Events of an unknown kind are ignored, not skipped. With ``hours``, stretches of a file
  wholly outside the window are passed over unread, so their lines are not judged.

With no event in the window the report is printed with zeros, rates shown as ``n/a`` and a
note saying so; a missing logs directory is a :class:`~rubix_sync.errors.ConfigError`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import ConfigError
from ._render import render_json, render_text, report_dict, write_csv
from ._report import ERROR_TYPES, ErrorEntry, HourStat, MachineStat, Report, SessionStat
from ._scan import Scanner, event_files

__all__ = [
    "ERROR_TYPES",
    "ErrorEntry",
    "HourStat",
    "MachineStat",
    "Report",
    "SessionStat",
    "analyze_logs",
    "render_json",
    "render_text",
    "report_dict",
    "write_csv",
    "write_plot",
]


def analyze_logs(
    logs_dir: Path | str,
    *,
    hours: float | None = None,
    now: datetime | None = None,
    errors: bool = False,
) -> Report:
    """Analyze the event files in ``logs_dir``; ``errors=True`` also lists every error."""
    from ._report import Aggregator

    logs_dir = Path(logs_dir)
    if not logs_dir.is_dir():
        raise ConfigError(
            f"Logs directory {str(logs_dir)!r} does not exist. "
            "Use --logs-dir to point at the directory holding sync_events_*.jsonl."
        )
    if hours is not None and (not math.isfinite(hours) or hours <= 0):
        raise ConfigError(f"--hours must be a positive number of hours, not {hours}.")
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    end_t = now.timestamp() if hours is not None else math.inf
    start_t = end_t - hours * 3600 if hours is not None else -math.inf
    report = Report(
        generated=now,
        hours=hours,
        window_start=now - timedelta(hours=hours) if hours is not None else None,
        window_end=now if hours is not None else None,
        errors=[] if errors else None,
    )
    try:
        files = event_files(
            logs_dir, start_t if hours is not None else None, end_t if hours is not None else None
        )
    except OSError as exc:
        raise ConfigError(f"Cannot read logs directory {str(logs_dir)!r}: {exc.strerror}.") from exc
    agg = Aggregator(collect_errors=errors)
    stats = Scanner(agg, start_t, end_t, full=errors).scan(files)
    report.files = stats.files
    report.bytes_read = stats.bytes
    report.lines = stats.lines
    report.skipped_lines = stats.skipped_lines
    agg.finish(report, start_t, end_t)
    if not files:
        report.note = f"No sync_events_*.jsonl files for this period in {logs_dir}."
    elif report.events == 0:
        report.note = "No events in the analysis period."
    return report


def write_plot(report: Report, path: Path | str) -> None:
    """Draw records/s and errors per hour to a PNG (needs the ``plot`` extra)."""
    from ._plot import write_plot as _write

    _write(report, Path(path))
