"""Find the event files of a window and stream their lines into an aggregator.

Files: ``sync_events_YYYYMMDD.jsonl`` and its size backups ``….jsonl.N``; a file is read when its
date is within one day of the window (a line written just after midnight may carry the previous
day's event time); every line is then filtered by its ``ts``.

Reading is by 1 MiB chunks, never a whole file. Lines of one file are appended in time order
by one writer, so a chunk whose first and last lines fall inside the window and in the same UTC
hour holds only such lines: there the two per-token kinds (``fetch_failed``,
``validation_failed``) written in the listener's key order are counted in bulk with one regular
expression, and only the other lines are parsed with :func:`json.loads`. A chunk wholly before
or after the window is passed over. A chunk that straddles an hour or the window's edge is
halved at a line boundary and each half looked at again, down to 16 KiB, which is parsed line
by line. ``full=True`` parses every line (needed to list errors). Skipped lines are counted
among the lines parsed.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

FILE_RE = re.compile(r"^sync_events_(\d{8})\.jsonl(?:\.(\d+))?$")
CHUNK = 1 << 20
MIN_SPLIT = 16 * 1024
_NUM = rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_FAST = re.compile(
    rb'\n\{"event":"(?:fetch_failed","reason":"(\w+)"|validation_failed"),"ts":[0-9]+(?:\.[0-9]+)?,'
    rb"[^\n]*\}(?=\n)"
)
_BATCH = re.compile(
    rb'\n\{"event":"batch_written","ts":([0-9]+(?:\.[0-9]+)?),"machine_name":"([^"\\\n]*)",'
    rb'"session_id":"([^"\\\n]*)",[^\n]*?"records":(\d+),"ipfs_success":(\d+),'
    rb'"ipfs_failed":(\d+),"validation_failed":(\d+),"fetch_seconds":(' + _NUM + rb"),"
    rb'"write_seconds":(' + _NUM + rb"),[^\n]*\}(?=\n)"
)
_TS = re.compile(rb'"ts":(-?[0-9][0-9.eE+-]*)[,}]')
DAY = 86400


class Sink(Protocol):
    def event(self, kind: str, ts: float, d: dict[str, Any]) -> None: ...
    def batch(
        self,
        ts: float,
        machine: str,
        session: str,
        records: int,
        ok: int,
        failed: int,
        vfail: int,
        busy: float,
    ) -> None: ...
    def bulk(self, hour: int, fetch_reasons: Counter[bytes | None]) -> None: ...


@dataclass
class ScanStats:
    files: int = 0
    bytes: int = 0
    lines: int = 0
    skipped_lines: int = 0
    bulk_chunks: int = 0
    """Chunks whose per-token lines were counted in bulk (the fast path)."""


def event_files(
    logs_dir: Path, start: float | None = None, end: float | None = None
) -> list[tuple[Path, int]]:
    """``(path, size)`` of the event files to read, oldest first."""
    lo = time.strftime("%Y%m%d", time.gmtime(start - DAY)) if start is not None else None
    hi = time.strftime("%Y%m%d", time.gmtime(end + DAY)) if end is not None else None
    picked: list[tuple[str, int, str]] = []
    with os.scandir(logs_dir) as it:
        for entry in it:
            m = FILE_RE.match(entry.name)
            if not m or not entry.is_file():
                continue
            day = m.group(1)
            if (lo is not None and day < lo) or (hi is not None and day > hi):
                continue
            backup = int(m.group(2)) if m.group(2) else 0
            picked.append((day, -backup, entry.name))
    picked.sort()
    out: list[tuple[Path, int]] = []
    for _day, _b, name in picked:
        p = logs_dir / name
        try:
            out.append((p, p.stat().st_size))
        except OSError:
            continue
    return out


def _chunks(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(b"\\n" + complete lines, b"")``; a final unterminated line as ``(b"", line)``."""
    with open(path, "rb") as f:
        tail = b"\n"  # always starts with the newline that ended the previous chunk
        while True:
            data = f.read(CHUNK)
            if not data:
                break
            data = tail + data
            i = data.rfind(b"\n")
            if i == 0:
                tail = data
                continue
            tail = data[i:]
            yield data[: i + 1], b""
        if len(tail) > 1:
            yield b"", tail[1:]


def _line_ts(line: bytes) -> float | None:
    m = _TS.search(line)
    if m is None:
        return None
    try:
        return float(m.group(1))
    except ValueError:
        return None


class Scanner:
    def __init__(self, sink: Sink, start: float, end: float, *, full: bool = False) -> None:
        self.sink = sink
        self.start = start
        self.end = end
        self.full = full
        self.stats = ScanStats()

    def scan(self, files: list[tuple[Path, int]]) -> ScanStats:
        for path, size in files:
            self.stats.files += 1
            self.stats.bytes += size
            try:
                for chunk, last in _chunks(path):
                    if chunk:
                        self._chunk(chunk)
                    else:
                        self.stats.lines += 1
                        self._line(last)
            except OSError:
                continue  # a file rotated away while reading: what was read counts
        return self.stats

    def _chunk(self, chunk: bytes) -> None:
        """``chunk`` is ``b"\\n"`` + complete lines (each ending with a newline)."""
        if self.full:
            self._slow(chunk)
        else:
            self._part(chunk, 0)

    def _slow(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        self.stats.lines += len(lines) - 2
        for line in lines:
            if line:  # an empty line is not counted as skipped
                self._line(line)

    def _skip(self, chunk: bytes) -> None:
        self.stats.lines += chunk.count(b"\n") - 1

    def _part(self, chunk: bytes, depth: int) -> None:
        first_end = chunk.find(b"\n", 1)
        last_start = chunk.rfind(b"\n", 0, len(chunk) - 1)
        t0 = _line_ts(chunk[1:first_end])
        t1 = _line_ts(chunk[last_start + 1 : -1])
        if t0 is not None and t1 is not None and t0 <= t1:
            if t1 < self.start or t0 > self.end:
                self._skip(chunk)
                return  # wholly outside the window (lines of a file are in time order)
            if self.start <= t0 and t1 <= self.end:
                hour = math.floor(t0 / 3600)
                if hour == math.floor(t1 / 3600):
                    self._bulk(chunk, hour)
                    return
        if len(chunk) <= MIN_SPLIT or depth >= 24 or first_end == last_start:
            self._slow(chunk)
            return
        # Straddles an hour or the window's edge: halve at a line boundary and look again.
        mid = chunk.find(b"\n", len(chunk) // 2)
        if mid <= 0 or mid >= len(chunk) - 1:
            self._slow(chunk)
            return
        self._part(chunk[: mid + 1], depth + 1)
        self._part(chunk[mid:], depth + 1)

    def _bulk(self, chunk: bytes, hour: int) -> None:
        self.stats.bulk_chunks += 1
        parts = _FAST.split(chunk)
        reasons: Counter[bytes | None] = Counter(parts[1::2])
        if reasons:
            self.sink.bulk(hour, reasons)
        rest = b"".join(parts[0::2])
        self.stats.lines += len(parts) // 2
        if b'{"event":"batch_written","ts":' in rest:
            rest = self._batches(rest)
        self._slow(rest)

    def _batches(self, rest: bytes) -> bytes:
        """Count ``batch_written`` lines in the listener's layout; return the other lines."""
        parts = _BATCH.split(rest)
        batch = self.sink.batch
        for i in range(1, len(parts) - 1, 10):
            ts = float(parts[i])
            if not (self.start <= ts <= self.end):
                continue
            batch(
                ts,
                parts[i + 1].decode("utf-8", "replace"),
                parts[i + 2].decode("utf-8", "replace"),
                int(parts[i + 3]),
                int(parts[i + 4]),
                int(parts[i + 5]),
                int(parts[i + 6]),
                float(parts[i + 7]) + float(parts[i + 8]),
            )
        self.stats.lines += len(parts) // 10
        return b"".join(parts[0::10])

    def _line(self, line: bytes) -> None:
        try:
            d = json.loads(line)
        except ValueError:
            self.stats.skipped_lines += 1
            return
        if not isinstance(d, dict):
            self.stats.skipped_lines += 1
            return
        kind = d.get("event")
        ts = d.get("ts")
        if (
            not isinstance(kind, str)
            or not isinstance(ts, (int, float))
            or isinstance(ts, bool)
            or not math.isfinite(ts)
        ):
            self.stats.skipped_lines += 1
            return
        if ts < self.start or ts > self.end:
            return
        try:
            self.sink.event(kind, float(ts), d)
        except (TypeError, ValueError, KeyError, AttributeError):
            self.stats.skipped_lines += 1
