"""What a person at the terminal sees: a live progress display (or plain lines) and the summary.

Both are listeners on the event bus and read the pipeline's one set of counters.
"""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from . import events as ev
from .pipeline.runner import SyncResult


class ProgressDisplay:
    """Overall and per-node bars with rate and ETA on a TTY; else a plain line per Progress."""

    def __init__(self, stream: IO[str] | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._nodes: dict[str, TaskID] = {}
        self._records = 0
        self._started = 0.0

    def __call__(self, event: ev.Event) -> None:
        if not self.live:
            if isinstance(event, ev.Progress):
                c = event.counters
                eta = _eta(event)
                self.stream.write(
                    f"Progress: {c.databases_done}/{c.total_databases} databases "
                    f"({event.percent:.1f}%), {c.records:,} records, {event.rate:.1f} records/s, "
                    f"IPFS failed {c.ipfs_failed:,}, ETA {eta}\n"
                )
                self.stream.flush()
            return
        if isinstance(event, ev.SessionStarted):
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._progress.start()
            self._records, self._started = 0, event.ts
            self._overall = self._progress.add_task(
                "databases", total=event.total_databases, rate=""
            )
            return
        p = self._progress
        if p is None or self._overall is None:
            return
        if isinstance(event, ev.DatabaseStarted):
            self._nodes[event.node] = p.add_task(
                f"  {event.node}", total=max(event.estimated_tokens, 1), rate=""
            )
        elif isinstance(event, ev.BatchWritten):
            task = self._nodes.get(event.node)
            if task is not None:
                p.advance(task, event.records)
            # between Progress events, move the overall count on by the batches written; the
            # next Progress event sets it to the pipeline's counters again
            self._records += event.records
            elapsed = max(event.ts - self._started, 1e-9)
            p.update(
                self._overall, rate=f"{self._records:,} records, {self._records / elapsed:,.0f}/s"
            )
        elif isinstance(event, (ev.DatabaseFinished, ev.DatabaseSkipped)):
            task = self._nodes.pop(event.node, None)
            if task is not None:
                p.remove_task(task)
        elif isinstance(event, ev.Progress):
            self._records = event.counters.records
            p.update(
                self._overall,
                completed=event.counters.databases_done,
                rate=f"{event.counters.records:,} records, {event.rate:,.0f}/s",
            )
        elif isinstance(event, ev.SessionFinished):
            p.update(self._overall, completed=event.counters.databases_done)
            p.stop()
            self._progress = None


def _eta(event: ev.Progress) -> str:
    c = event.counters
    if not c.databases_done or c.databases_done >= c.total_databases:
        return "-"
    left = event.elapsed_seconds / c.databases_done * (c.total_databases - c.databases_done)
    return f"{left:.0f}s"


def format_summary(result: SyncResult, *, database: str, logs_dir: str | None) -> str:
    c = result.counters
    rate = c.records / result.duration_seconds if result.duration_seconds > 0 else 0.0
    synced = c.databases_done - c.databases_skipped - c.databases_failed
    lines = [
        f"Sync {result.status} in {result.duration_seconds:.1f} s (session {result.session_id})",
        f"Databases: {c.total_databases} found, {synced} synced, "
        f"{c.databases_skipped} unchanged, {c.databases_failed} failed",
        f"Records: {c.records:,} ({rate:,.1f} records/s)",
        f"IPFS: {c.ipfs_success:,} fetched and verified, {c.ipfs_failed:,} failed",
        f"Validation: {c.validation_failed:,} failed",
        f"SQL errors: {c.sql_errors:,}",
    ]
    if result.failures:
        lines.append("Failed databases:")
        lines.extend(f"  {f}" for f in result.failures[:20])
        if len(result.failures) > 20:
            lines.append(f"  ... and {len(result.failures) - 20} more")
    lines.append(f"Central database: {database}")
    if logs_dir:
        lines.append(f"Logs: {logs_dir}")
    return "\n".join(lines)
