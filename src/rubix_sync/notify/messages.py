"""The guide's five Telegram messages, as pure functions from values to Telegram-HTML text.

Every message starts with ``🖥️ Name (IP)`` (just ``🖥️ Name`` without an IP), then the heading
in bold, then the guide's body in a ``<pre>`` block. Every interpolated value is HTML-escaped;
the only markup is ``<b>`` and ``<pre>``. Times are UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from html import escape

from .base import MachineIdentity

BAR_CELLS = 20
MAX_FAILURE_LINES = 10

_DB_KINDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mssql": "SQL Server"}
_HEADINGS = {
    "COMPLETED": "✅ SYNC COMPLETED",
    "FAILED": "❌ SYNC FAILED",
    "INTERRUPTED": "⚠️ SYNC INTERRUPTED",
}


def _e(value: object) -> str:
    return escape(str(value), quote=False)


def _utc(at: datetime | float) -> datetime:
    if isinstance(at, datetime):
        return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(at, tz=timezone.utc)


def _pre(lines: Iterable[str]) -> str:
    return "<pre>" + "\n".join(_e(line) for line in lines) + "</pre>"


def _message(identity: MachineIdentity, heading: str, *blocks: str) -> str:
    return "\n".join((f"🖥️ {_e(identity.label)}", f"<b>{_e(heading)}</b>", *blocks))


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole > 0 else "n/a"


def progress_bar(percent: float, cells: int = BAR_CELLS) -> str:
    """``██████████████░░░░░░`` for 73.5 %: full cells = floor(percent of ``cells``)."""
    p = min(max(percent, 0.0), 100.0)
    full = min(cells, math.floor(p * cells / 100.0 + 1e-9))
    return "█" * full + "░" * (cells - full)


def database_label(database_kind: str) -> str:
    """``Distributed Token Sync - SQLite Database`` for ``sqlite`` (the startup ``Type:``)."""
    return f"Distributed Token Sync - {_DB_KINDS.get(database_kind, database_kind)} Database"


def startup_message(
    identity: MachineIdentity,
    *,
    started_at: datetime | float,
    database_kind: str,
    dry_run: bool = False,
) -> str:
    """🚀 SYNC STARTED: type, time (UTC) and status."""
    kind = database_label(database_kind) + (" (dry run)" if dry_run else "")
    return _message(
        identity,
        "🚀 SYNC STARTED",
        _pre(
            (
                f"Type: {kind}",
                f"Time: {_utc(started_at):%Y-%m-%d %H:%M:%S} UTC",
                "Status: Initializing...",
            )
        ),
    )


def progress_message(
    identity: MachineIdentity,
    *,
    percent: float,
    records: int,
    rate: float,
    ipfs_success: int,
    sql_errors: int,
    elapsed_seconds: float,
) -> str:
    """📊 SYNC PROGRESS: bar + percent, records, rate, IPFS success, SQL errors, elapsed."""
    return _message(
        identity,
        "📊 SYNC PROGRESS",
        _pre(
            (
                f"{progress_bar(percent)} {percent:.1f}%",
                "",
                f"Records: {records:,}",
                f"Rate: {rate:,.1f}/sec",
                f"IPFS Success: {ipfs_success:,}",
                f"SQL Errors: {sql_errors:,}",
                f"Elapsed: {elapsed_seconds / 60.0:,.1f} min",
            )
        ),
    )


def error_message(
    identity: MachineIdentity,
    *,
    error_type: str,
    message: str,
    at: datetime | float,
    context: Mapping[str, object] | None = None,
    more: int = 0,
    window_seconds: float = 60.0,
) -> str:
    """❌ ERROR DETECTED: type, time (UTC), message, then the context block.

    ``more`` > 0 adds ``… and N more <type> errors in the last W s`` (a coalesced burst).
    """
    blocks = [
        _pre(
            (
                f"Type: {error_type}",
                f"Time: {_utc(at):%H:%M:%S}",
                f"Message: {message}",
            )
        )
    ]
    if context:
        blocks.append("Context:")
        blocks.append(_pre(f"{k}: {v}" for k, v in context.items()))
    if more > 0:
        blocks.append(
            _e(f"… and {more:,} more {error_type} errors in the last {window_seconds:g} s")
        )
    return _message(identity, "❌ ERROR DETECTED", *blocks)


def database_completed_message(
    identity: MachineIdentity,
    *,
    name: str,
    records: int,
    duration_seconds: float,
    ipfs_success: int,
    ipfs_failed: int,
) -> str:
    """📁 DATABASE COMPLETED: name, records, duration, IPFS rate (success / fetched)."""
    return _message(
        identity,
        "📁 DATABASE COMPLETED",
        _pre(
            (
                f"Name: {name}",
                f"Records: {records:,}",
                f"Duration: {duration_seconds:.1f}s",
                f"IPFS Rate: {_pct(ipfs_success, ipfs_success + ipfs_failed)}",
            )
        ),
    )


def completion_message(
    identity: MachineIdentity,
    *,
    duration_seconds: float,
    databases: int,
    records: int,
    ipfs_success: int,
    ipfs_failed: int,
    sql_errors: int,
    errors: int,
    status: str = "COMPLETED",
    failures: Iterable[str] = (),
) -> str:
    """✅ SYNC COMPLETED (❌ SYNC FAILED / ⚠️ SYNC INTERRUPTED for those statuses).

    Duration, databases, records, average rate, the Success Rates tree (IPFS = success / fetched,
    SQL = written / (written + SQL errors)) and errors; then up to ten failure lines, if any.
    """
    avg = records / duration_seconds if duration_seconds > 0 else 0.0
    blocks = [
        _pre(
            (
                f"Duration: {duration_seconds / 60.0:,.1f} minutes",
                f"Databases: {databases:,}",
                f"Records: {records:,}",
                f"Avg Rate: {avg:,.1f}/sec",
                "",
                "Success Rates:",
                f"├─ IPFS: {_pct(ipfs_success, ipfs_success + ipfs_failed)}",
                f"└─ SQL: {_pct(records, records + sql_errors)}",
                "",
                f"Errors: {errors:,}",
            )
        )
    ]
    failure_list = list(failures)
    if failure_list:
        shown = failure_list[:MAX_FAILURE_LINES]
        if len(failure_list) > len(shown):
            shown.append(f"… and {len(failure_list) - len(shown):,} more")
        blocks.append("Failures:")
        blocks.append(_pre(shown))
    heading = _HEADINGS.get(status, f"SYNC {status}")
    return _message(identity, heading, *blocks)


def connection_test_message(identity: MachineIdentity, *, at: datetime | float) -> str:
    """🔔 TEST MESSAGE sent by ``rubix-sync notify test``."""
    return _message(
        identity,
        "🔔 TEST MESSAGE",
        _pre((f"Time: {_utc(at):%Y-%m-%d %H:%M:%S} UTC", "rubix-sync can post to this chat.")),
    )


def custom_message(identity: MachineIdentity, text: str) -> str:
    """Free text (``notify send`` / ``send_message``) under the machine line, escaped."""
    return f"🖥️ {_e(identity.label)}\n{_e(text)}"
