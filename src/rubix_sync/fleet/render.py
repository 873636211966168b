"""Text renderings of the fleet views: rich tables for a terminal, plain columns otherwise.

Each view is a list of column headers plus rows of already formatted cells, so the plain and
the rich rendering always show the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.markup import escape
from rich.table import Table

from ._db import iso
from .reports import ActiveSession, ErrorPattern, HourBucket
from .status import MachineStatus

Cells = list[str]


def fmt_int(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def fmt_pct(p: float | None) -> str:
    return "-" if p is None else f"{p:.1f}%"


def fmt_rate(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:,.0f}/s" if r >= 100 else f"{r:.1f}/s"


def fmt_duration(seconds: float | None) -> str:
    """``45s``, ``12m05s``, ``3h07m``, ``2d04h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def fmt_time(t: datetime | None) -> str:
    return (iso(t) or "-").replace("T", " ").replace("Z", "")


STATUS_HEADERS = [
    "MACHINE", "IP", "STATE", "PROGRESS", "RECORDS", "RATE", "ETA", "IPFS OK", "VALID",
    "ERRORS", "HEARTBEAT",
]  # fmt: skip


def status_rows(rows: Sequence[MachineStatus]) -> list[Cells]:
    out = []
    for r in rows:
        progress = f"{r.databases_done}/{r.total_databases}"
        if r.progress_percent is not None:
            progress += f" {r.progress_percent:.0f}%"
        beat = (
            "-"
            if r.heartbeat_age_seconds is None
            else f"{fmt_duration(r.heartbeat_age_seconds)} ago"
        )
        out.append(
            [
                r.machine_name,
                r.source_ip or "-",
                r.state,
                progress,
                fmt_int(r.records),
                fmt_rate(r.rate),
                fmt_duration(r.eta_seconds),
                fmt_pct(r.ipfs_success_percent),
                fmt_pct(r.validation_pass_percent),
                fmt_int(r.errors),
                beat,
            ]
        )
    return out


SESSIONS_HEADERS = ["SESSION", "MACHINE", "IP", "STARTED (UTC)", "RECORDS", "RATE", "STATUS"]


def sessions_rows(rows: Sequence[ActiveSession]) -> list[Cells]:
    return [
        [
            s.session_id,
            s.machine_name,
            s.source_ip or "-",
            fmt_time(s.start_time),
            fmt_int(s.total_records_processed),
            fmt_rate(s.current_rate),
            "STALE" if s.stale else s.status,
        ]
        for s in rows
    ]


ERRORS_HEADERS = ["MACHINE", "IP", "RECORDS", "IPFS OK", "IPFS FAILED", "VALIDATION ERRORS"]


def errors_rows(rows: Sequence[ErrorPattern]) -> list[Cells]:
    return [
        [
            p.machine_name,
            p.source_ip or "-",
            fmt_int(p.total_records),
            fmt_int(p.ipfs_success),
            fmt_int(p.ipfs_failed),
            fmt_int(p.validation_errors),
        ]
        for p in rows
    ]


HOURLY_HEADERS = ["HOUR (UTC)", "RECORDS", "PER MINUTE"]


def hourly_rows(rows: Sequence[HourBucket]) -> list[Cells]:
    return [
        [fmt_time(b.hour)[:-3], fmt_int(b.records_processed), f"{b.avg_records_per_minute:.1f}"]
        for b in rows
    ]


_RIGHT = {"RECORDS", "RATE", "ETA", "IPFS OK", "VALID", "ERRORS", "IPFS FAILED",
          "VALIDATION ERRORS", "PER MINUTE", "PROGRESS"}  # fmt: skip


def plain_table(headers: Sequence[str], rows: Sequence[Cells]) -> str:
    """Space-aligned columns, numbers right-aligned; no trailing spaces."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if h in _RIGHT else c.ljust(w)
            for h, c, w in zip(headers, cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


_STATE_STYLE = {
    "RUNNING": "bold green",
    "STALE": "bold yellow",
    "COMPLETED": "cyan",
    "FAILED": "bold red",
    "INTERRUPTED": "magenta",
}


def rich_table(headers: Sequence[str], rows: Sequence[Cells], title: str | None = None) -> Table:
    table = Table(title=title, header_style="bold", expand=False)
    for h in headers:
        table.add_column(h, justify="right" if h in _RIGHT else "left", no_wrap=True)
    for row in rows:
        cells = [escape(c) for c in row]
        for i, h in enumerate(headers):
            if h in ("STATE", "STATUS") and cells[i] in _STATE_STYLE:
                cells[i] = f"[{_STATE_STYLE[cells[i]]}]{cells[i]}[/]"
        table.add_row(*cells)
    return table
