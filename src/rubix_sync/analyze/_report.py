"""Aggregate events into a :class:`Report` (definitions in the package docstring)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ERROR_TYPES = ("timeout", "ipfs", "validation", "database", "connection", "other")
_KNOWN_TYPES = frozenset(ERROR_TYPES)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("expected an integer")
    return v


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("expected a number")
    return float(v)


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def fetch_error_type(reason: str) -> str:
    """A FetchFailed reason's error type: ``timeout`` for timeouts, else ``ipfs``."""
    return "timeout" if reason == "timeout" else "ipfs"


@dataclass
class HourStat:
    hour: datetime
    records: int = 0
    active_seconds: float = 0.0
    samples: int = 0
    ipfs_success: int = 0
    ipfs_failed: int = 0
    validation_failed: int = 0
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.records / self.active_seconds if self.active_seconds > 0 else 0.0


@dataclass
class SessionStat:
    session_id: str
    machine_name: str
    started: float | None = None
    finished: float | None = None
    first_seen: float = math.inf
    last_seen: float = -math.inf
    status: str = "RUNNING"
    duration_seconds: float | None = None
    records: int = 0
    counters: dict[str, int] | None = None
    active_seconds: float = 0.0


@dataclass
class MachineStat:
    machine_name: str
    sessions: int = 0
    records: int = 0


@dataclass
class ErrorEntry:
    """One error (or one group of per-token failures sharing correlation ID and reason)."""

    ts: float
    error_type: str
    machine_name: str
    node: str
    message: str
    correlation_id: str
    chain: list[str] = field(default_factory=list)
    count: int = 1


@dataclass
class Report:
    generated: datetime
    hours: float | None
    window_start: datetime | None
    window_end: datetime | None
    files: int = 0
    bytes_read: int = 0
    lines: int = 0
    skipped_lines: int = 0
    events: int = 0
    records: int = 0
    active_seconds: float = 0.0
    ipfs_success: int = 0
    ipfs_failed: int = 0
    sql_success: int = 0
    sql_failed: int = 0
    sql_errors: int = 0
    validation_failed: int = 0
    bulk_inserts: int = 0
    fetch_failures: int = 0
    validation_failures: int = 0
    error_events: int = 0
    error_types: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_TYPES, 0))
    databases_completed: int = 0
    databases_failed: int = 0
    databases_skipped: int = 0
    hourly: list[HourStat] = field(default_factory=list)
    machines: list[MachineStat] = field(default_factory=list)
    sessions: list[SessionStat] = field(default_factory=list)
    errors: list[ErrorEntry] | None = None
    note: str | None = None

    @property
    def average_rate(self) -> float:
        return self.records / self.active_seconds if self.active_seconds > 0 else 0.0

    @property
    def ipfs_success_rate(self) -> float | None:
        n = self.ipfs_success + self.ipfs_failed
        return 100.0 * self.ipfs_success / n if n else None

    @property
    def sql_success_rate(self) -> float | None:
        n = self.sql_success + self.sql_failed
        return 100.0 * self.sql_success / n if n else None

    @property
    def validation_pass_rate(self) -> float | None:
        if self.records <= 0:
            return None
        return 100.0 * (self.records - self.validation_failed) / self.records

    @property
    def total_errors(self) -> int:
        return self.fetch_failures + self.validation_failures + self.error_events

    @property
    def error_rate(self) -> float | None:
        return 100.0 * self.total_errors / self.records if self.records else None

    def top_error_types(self) -> list[tuple[str, int]]:
        """Non-zero error types, most frequent first (ties in the canonical order)."""
        items = [(t, n) for t, n in self.error_types.items() if n]
        return sorted(items, key=lambda kv: (-kv[1], ERROR_TYPES.index(kv[0])))


class Aggregator:
    """Receives events from the scanner and builds the report's numbers."""

    def __init__(self, *, collect_errors: bool = False) -> None:
        self.r_records = 0
        self.ipfs_success = 0
        self.ipfs_failed = 0
        self.validation_failed = 0
        self.bulk_inserts = 0
        self.sql_failed = 0
        self.sql_errors = 0
        self.fetch_failures = 0
        self.validation_failures = 0
        self.error_events = 0
        self.events = 0
        self.error_types: Counter[str] = Counter()
        self.db_completed = 0
        self.db_failed = 0
        self.db_skipped = 0
        self.hours: dict[int, HourStat] = {}
        self.sessions: dict[str, SessionStat] = {}
        self.collect_errors = collect_errors
        self.parents: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self.error_list: list[ErrorEntry] = []
        self._groups: dict[tuple[str, str, str, str], ErrorEntry] = {}

    # -- helpers ---------------------------------------------------------------------------
    def _hour(self, h: int) -> HourStat:
        hs = self.hours.get(h)
        if hs is None:
            hs = HourStat(datetime.fromtimestamp(h * 3600, tz=timezone.utc))
            self.hours[h] = hs
        return hs

    def _session(self, d: dict[str, Any], ts: float) -> SessionStat:
        sid = _str(d.get("session_id"))
        s = self.sessions.get(sid)
        if s is None:
            s = SessionStat(sid, _str(d.get("machine_name")))
            self.sessions[sid] = s
        elif not s.machine_name:
            s.machine_name = _str(d.get("machine_name"))
        if ts < s.first_seen:
            s.first_seen = ts
        if ts > s.last_seen:
            s.last_seen = ts
        return s

    def _link(self, d: dict[str, Any]) -> None:
        cid = _str(d.get("correlation_id"))
        parent = _str(d.get("parent_id"))
        if cid and parent and cid != parent:
            self.parents.setdefault(cid, parent)

    def _error(self, kind: str, ts: float, d: dict[str, Any], etype: str, msg: str) -> None:
        if not self.collect_errors:
            return
        self._link(d)
        cid = _str(d.get("correlation_id"))
        node = _str(d.get("node")) or _str((d.get("context") or {}).get("node"))
        entry = ErrorEntry(ts, etype, _str(d.get("machine_name")), node, msg, cid)
        if kind in ("fetch_failed", "validation_failed"):
            key = (kind, cid, etype, node)
            group = self._groups.get(key)
            if group is not None:
                group.count += 1
                return
            self._groups[key] = entry
        self.error_list.append(entry)

    # -- scanner interface -----------------------------------------------------------------
    def bulk(self, hour: int, fetch_reasons: Counter[bytes | None]) -> None:
        n_all = 0
        for reason, n in fetch_reasons.items():
            if reason is None:
                self.validation_failures += n
                self.error_types["validation"] += n
            else:
                self.fetch_failures += n
                self.error_types[fetch_error_type(reason.decode("ascii"))] += n
            n_all += n
        self.events += n_all
        self._hour(hour).errors += n_all

    def event(self, kind: str, ts: float, d: dict[str, Any]) -> None:
        handler = getattr(self, "_on_" + kind, None)
        if handler is None:
            return  # an event kind this analyzer does not know: ignored, not an error
        handler(ts, d)
        if kind != "batch_written":
            self.events += 1

    # -- one method per event kind ---------------------------------------------------------
    def _on_batch_written(self, ts: float, d: dict[str, Any]) -> None:
        busy = _num(d.get("fetch_seconds", 0.0)) + _num(d.get("write_seconds", 0.0))
        self.batch(
            ts,
            _str(d.get("machine_name")),
            _str(d.get("session_id")),
            _int(d["records"]),
            _int(d["ipfs_success"]),
            _int(d["ipfs_failed"]),
            _int(d["validation_failed"]),
            busy,
        )
        if self.collect_errors:
            self._link(d)

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
    ) -> None:
        """One ``batch_written`` event (also called directly by the scanner's fast path)."""
        self.events += 1
        self.r_records += records
        self.ipfs_success += ok
        self.ipfs_failed += failed
        self.validation_failed += vfail
        self.bulk_inserts += 1
        hs = self._hour(math.floor(ts / 3600))
        hs.records += records
        hs.samples += 1
        hs.ipfs_success += ok
        hs.ipfs_failed += failed
        hs.validation_failed += vfail
        s = self.sessions.get(session)
        if s is None:
            s = self._session({"session_id": session, "machine_name": machine}, ts)
        elif ts > s.last_seen:
            s.last_seen = ts
        s.records += records
        s.first_seen = min(s.first_seen, ts - max(busy, 0.0))

    def _on_fetch_failed(self, ts: float, d: dict[str, Any]) -> None:
        reason = _str(d.get("reason"))
        etype = fetch_error_type(reason)
        self.fetch_failures += 1
        self.error_types[etype] += 1
        self._hour(math.floor(ts / 3600)).errors += 1
        self._session(d, ts)
        msg = f"IPFS fetch failed ({reason}): token {_str(d.get('token_id'))}: " + _str(
            d.get("detail")
        )
        self._error("fetch_failed", ts, d, etype, msg)

    def _on_validation_failed(self, ts: float, d: dict[str, Any]) -> None:
        errs = d.get("errors") or []
        codes = ", ".join(_str(e) for e in errs) if isinstance(errs, list) else _str(errs)
        self.validation_failures += 1
        self.error_types["validation"] += 1
        self._hour(math.floor(ts / 3600)).errors += 1
        self._session(d, ts)
        msg = f"validation failed: token {_str(d.get('token_id'))}: {codes}"
        self._error("validation_failed", ts, d, "validation", msg)

    def _on_error(self, ts: float, d: dict[str, Any]) -> None:
        etype = _str(d.get("error_type"))
        if etype not in _KNOWN_TYPES:
            etype = "other"
        context = d.get("context") or {}
        if not isinstance(context, dict):
            context = {}
        records = 0
        if etype == "database" and "records" in context:
            records = int(context["records"])
        self.error_events += 1
        self.error_types[etype] += 1
        if etype == "database":  # the sync's sql_errors counts rejected records, as here
            self.sql_errors += records
            self.sql_failed += records
        self._hour(math.floor(ts / 3600)).errors += 1
        self._session(d, ts)
        self._error("error", ts, d, etype, _str(d.get("message")))

    def _on_session_started(self, ts: float, d: dict[str, Any]) -> None:
        s = self._session(d, ts)
        s.started = ts
        if self.collect_errors:
            sid = _str(d.get("session_id"))
            self.labels.setdefault(sid[:8].ljust(8, "-"), f"session {sid}")

    def _on_session_finished(self, ts: float, d: dict[str, Any]) -> None:
        duration = _num(d["duration_seconds"])
        counters = d.get("counters")
        s = self._session(d, ts)
        s.finished = ts
        s.status = _str(d.get("status")) or "FINISHED"
        s.duration_seconds = duration
        if isinstance(counters, dict):
            s.counters = {str(k): v for k, v in counters.items() if isinstance(v, int)}

    def _on_database_started(self, ts: float, d: dict[str, Any]) -> None:
        self._session(d, ts)
        if self.collect_errors:
            self._link(d)
            cid = _str(d.get("correlation_id"))
            self.labels.setdefault(cid, f"database {_str(d.get('node'))}")

    def _on_database_finished(self, ts: float, d: dict[str, Any]) -> None:
        status = _str(d.get("status"))
        self._session(d, ts)
        if status == "COMPLETED":
            self.db_completed += 1
        else:
            self.db_failed += 1
            if self.collect_errors:
                self._link(d)
                err = _str(d.get("error"))
                self.error_list.append(
                    ErrorEntry(
                        ts,
                        "database " + (status or "FAILED").lower(),
                        _str(d.get("machine_name")),
                        _str(d.get("node")),
                        f"database {status or 'FAILED'}" + (f": {err}" if err else ""),
                        _str(d.get("correlation_id")),
                    )
                )

    def _on_database_skipped(self, ts: float, d: dict[str, Any]) -> None:
        self.db_skipped += 1
        self._session(d, ts)
        if self.collect_errors:
            self.error_list.append(
                ErrorEntry(
                    ts,
                    "database skipped",
                    _str(d.get("machine_name")),
                    _str(d.get("node")),
                    "database skipped: " + _str(d.get("reason")),
                    "",
                )
            )

    def _on_progress(self, ts: float, d: dict[str, Any]) -> None:
        self._session(d, ts)

    def _on_fetcher_chosen(self, ts: float, d: dict[str, Any]) -> None:
        self._session(d, ts)

    # -- result ----------------------------------------------------------------------------
    def chain(self, cid: str) -> list[str]:
        """``cid`` then its parents, each with a label when known."""
        out: list[str] = []
        seen: set[str] = set()
        while cid and cid not in seen and len(out) < 16:
            seen.add(cid)
            label = self.labels.get(cid)
            out.append(f"{cid} ({label})" if label else cid)
            cid = self.parents.get(cid, "")
        return out

    def finish(self, report: Report, start: float, end: float) -> None:
        report.events = self.events
        report.records = self.r_records
        report.ipfs_success = self.ipfs_success
        report.ipfs_failed = self.ipfs_failed
        report.sql_success = self.r_records
        report.sql_failed = self.sql_failed
        report.sql_errors = self.sql_errors
        report.validation_failed = self.validation_failed
        report.bulk_inserts = self.bulk_inserts
        report.fetch_failures = self.fetch_failures
        report.validation_failures = self.validation_failures
        report.error_events = self.error_events
        for t in ERROR_TYPES:
            report.error_types[t] = self.error_types.get(t, 0)
        report.databases_completed = self.db_completed
        report.databases_failed = self.db_failed
        report.databases_skipped = self.db_skipped

        # Active time: each session's span, clipped to the window, spread over the hours.
        total = 0.0
        for s in self.sessions.values():
            if s.finished is not None and s.duration_seconds is not None:
                s_end = s.finished
                s_start = s.finished - s.duration_seconds
            else:
                s_start = s.started if s.started is not None else s.first_seen
                s_end = s.last_seen
            s_start = max(s_start, start)
            s_end = min(s_end, end)
            if not (s_end > s_start) or math.isinf(s_start) or math.isinf(s_end):
                continue
            s.active_seconds = s_end - s_start
            total += s.active_seconds
            h = math.floor(s_start / 3600)
            while h * 3600 < s_end:
                lo = max(s_start, h * 3600)
                hi = min(s_end, (h + 1) * 3600)
                if hi > lo and h in self.hours:
                    self.hours[h].active_seconds += hi - lo
                h += 1
        report.active_seconds = total
        report.hourly = [self.hours[h] for h in sorted(self.hours)]

        machines: dict[str, MachineStat] = {}
        for s in self.sessions.values():
            m = machines.setdefault(s.machine_name, MachineStat(s.machine_name))
            if s.session_id:
                m.sessions += 1
            m.records += s.records
        report.machines = sorted(machines.values(), key=lambda m: m.machine_name)
        report.sessions = sorted(
            (s for s in self.sessions.values() if s.session_id),
            key=lambda s: (s.started if s.started is not None else s.first_seen, s.session_id),
        )
        if self.collect_errors:
            for e in self.error_list:
                e.chain = self.chain(e.correlation_id)
            report.errors = sorted(self.error_list, key=lambda e: e.ts)
