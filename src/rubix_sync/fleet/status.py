"""One row per machine: the state of its latest sync session, read from ``SyncSessions``.

Definitions (also in ``rubix-sync status --help``):

* **state**: the latest session's status (RUNNING, COMPLETED, FAILED, INTERRUPTED), or STALE
  when it still says RUNNING but its ``last_heartbeat`` (its ``start_time`` when it never beat)
  is older than ``stale_after_seconds``: the process died without closing it.
* **rate**: records per second over the session's elapsed time: until now while RUNNING, until
  the end time when finished, until the last heartbeat when STALE (or finished without an end).
* **eta**: RUNNING only: elapsed / databases done x databases left; 0 when all are done, None
  before the first database finishes.
* **ipfs_success_percent**: ipfs_success / (ipfs_success + ipfs_failed).
* **validation_pass_percent**: (records - validation_failed) / records.
* **errors**: ipfs_failed + sql_errors (failed fetches plus rejected statements; validation
  failures are reported on their own).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import redact
from ._db import as_utc, iso, sessions, utc_now

STATES = ("RUNNING", "STALE", "COMPLETED", "FAILED", "INTERRUPTED")
DEFAULT_STALE_AFTER = 120.0


@dataclass(frozen=True, slots=True)
class MachineStatus:
    machine_name: str
    source_ip: str | None
    session_id: str
    state: str
    start_time: datetime | None
    end_time: datetime | None
    last_heartbeat: datetime | None
    heartbeat_age_seconds: float | None
    databases_done: int
    total_databases: int
    progress_percent: float | None
    records: int
    elapsed_seconds: float | None
    rate: float | None
    eta_seconds: float | None
    ipfs_success: int
    ipfs_failed: int
    ipfs_success_percent: float | None
    validation_failed: int
    validation_pass_percent: float | None
    sql_errors: int
    errors: int
    error_summary: str | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: timestamps as ISO-8601 UTC strings, floats rounded."""
        out: dict[str, object] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, datetime):
                v = iso(v)
            elif isinstance(v, float):
                v = round(v, 3)
            out[f.name] = v
        return out


def _pct(part: int, whole: int) -> float | None:
    return None if whole <= 0 else 100.0 * part / whole


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def machine_status(
    row: sa.RowMapping, *, now: datetime, stale_after_seconds: float = DEFAULT_STALE_AFTER
) -> MachineStatus:
    """Derive one :class:`MachineStatus` from a ``SyncSessions`` row."""
    start = as_utc(row["start_time"])
    end = as_utc(row["end_time"])
    beat = as_utc(row["last_heartbeat"])
    status = str(row["status"] or "").upper()
    last_sign = beat or start
    age = _seconds(last_sign, now)
    state = status
    if status == "RUNNING" and age is not None and age > stale_after_seconds:
        state = "STALE"

    if state == "RUNNING":
        elapsed = _seconds(start, now)
    elif end is not None:
        elapsed = _seconds(start, end)
    else:
        elapsed = _seconds(start, last_sign)

    done = int(row["databases_done"] or 0)
    total = int(row["total_databases"] or 0)
    recs = int(row["total_records_processed"] or 0)
    ok = int(row["ipfs_success"] or 0)
    bad = int(row["ipfs_failed"] or 0)
    invalid = int(row["validation_failed"] or 0)
    sql_errors = int(row["sql_errors"] or 0)

    eta: float | None = None
    if state == "RUNNING" and elapsed is not None:
        if total and done >= total:
            eta = 0.0
        elif done > 0:
            eta = elapsed / done * (total - done)

    return MachineStatus(
        machine_name=str(row["machine_name"]),
        source_ip=row["source_ip"],
        session_id=str(row["session_id"]),
        state=state,
        start_time=start,
        end_time=end,
        last_heartbeat=beat,
        heartbeat_age_seconds=age,
        databases_done=done,
        total_databases=total,
        progress_percent=_pct(done, total),
        records=recs,
        elapsed_seconds=elapsed,
        rate=(recs / elapsed) if elapsed else None,
        eta_seconds=eta,
        ipfs_success=ok,
        ipfs_failed=bad,
        ipfs_success_percent=_pct(ok, ok + bad),
        validation_failed=invalid,
        validation_pass_percent=_pct(recs - invalid, recs),
        sql_errors=sql_errors,
        errors=bad + sql_errors,
        error_summary=redact(row["error_summary"]) if row["error_summary"] else None,
    )


def latest_sessions_query() -> sa.Select[tuple[object, ...]]:
    """Each machine's newest session (by start_time); one statement for every dialect."""
    s = sessions
    newest = (
        sa.select(s.c.machine_name, sa.func.max(s.c.start_time).label("newest"))
        .group_by(s.c.machine_name)
        .subquery("newest")
    )
    return (
        sa.select(*s.c)
        .join(
            newest,
            sa.and_(s.c.machine_name == newest.c.machine_name, s.c.start_time == newest.c.newest),
        )
        .order_by(s.c.machine_name, s.c.session_id)
    )


def fleet_status(
    engine: Engine,
    *,
    now: datetime | None = None,
    stale_after_seconds: float = DEFAULT_STALE_AFTER,
) -> list[MachineStatus]:
    """One :class:`MachineStatus` per machine that ever started a session, by machine name."""
    at = utc_now(now)
    with engine.connect() as conn:
        rows = conn.execute(latest_sessions_query()).mappings().all()
    by_machine: dict[str, MachineStatus] = {}
    for row in rows:  # two sessions started in the same instant: the last session_id wins
        st = machine_status(row, now=at, stale_after_seconds=stale_after_seconds)
        by_machine[st.machine_name] = st
    return [by_machine[k] for k in sorted(by_machine)]
