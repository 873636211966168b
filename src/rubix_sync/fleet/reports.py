"""The guide's three "Performance Monitoring Queries", for SQLite, PostgreSQL and SQL Server.

* :func:`active_sessions`: sessions whose status is RUNNING, newest first, with their rate.
* :func:`error_patterns`: per machine over the last N hours: records, IPFS successes and
  failures, validation errors (the guide groups by ``source_ip``; here by machine and IP).
* :func:`hourly_records`: records synced per UTC hour over the last N hours.

Aggregation happens in SQL (nothing loads the token table into memory); only the dialect
specific bits (hour truncation, timestamp comparison) come from :mod:`._db`'s capabilities.
Plus :func:`recent_errors` for the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import redact
from ._db import (
    UTC,
    as_utc,
    capabilities,
    column_is_aware,
    iso,
    processed,
    records,
    sessions,
    utc_now,
)
from .status import DEFAULT_STALE_AFTER


class _Row:
    __slots__ = ()

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, datetime):
                v = iso(v)
            elif isinstance(v, float):
                v = round(v, 3)
            out[f.name] = v
        return out


@dataclass(frozen=True, slots=True)
class ActiveSession(_Row):
    session_id: str
    machine_name: str
    source_ip: str | None
    start_time: datetime | None
    last_heartbeat: datetime | None
    total_records_processed: int
    current_rate: float | None
    """records per second since start_time (the guide's ``current_rate``)."""
    status: str
    stale: bool
    """No heartbeat for longer than the stale limit: the process probably died."""


@dataclass(frozen=True, slots=True)
class ErrorPattern(_Row):
    machine_name: str
    source_ip: str | None
    total_records: int
    ipfs_success: int
    ipfs_failed: int
    validation_errors: int


@dataclass(frozen=True, slots=True)
class HourBucket(_Row):
    hour: datetime
    """Start of the UTC hour."""
    records_processed: int
    avg_records_per_minute: float


@dataclass(frozen=True, slots=True)
class RecentError(_Row):
    at: datetime | None
    source: str
    """``session``, ``database`` or ``token``."""
    machine_name: str
    where: str
    """Session id, database path or ``node/token_id``."""
    message: str


def _synced_at_aware(engine: Engine) -> bool:
    return column_is_aware(engine, "TokenRecords", "synced_at")


def active_sessions(
    engine: Engine,
    *,
    now: datetime | None = None,
    stale_after_seconds: float = DEFAULT_STALE_AFTER,
) -> list[ActiveSession]:
    """Sessions with status RUNNING, newest start first, with records/s since their start."""
    at = utc_now(now)
    s = sessions
    q = (
        sa.select(
            s.c.session_id,
            s.c.machine_name,
            s.c.source_ip,
            s.c.start_time,
            s.c.last_heartbeat,
            s.c.total_records_processed,
            s.c.status,
        )
        .where(s.c.status == "RUNNING")
        .order_by(s.c.start_time.desc(), s.c.session_id)
    )
    out: list[ActiveSession] = []
    with engine.connect() as conn:
        for row in conn.execute(q).mappings():
            start = as_utc(row["start_time"])
            beat = as_utc(row["last_heartbeat"])
            recs = int(row["total_records_processed"] or 0)
            elapsed = (at - start).total_seconds() if start else 0.0
            last = beat or start
            out.append(
                ActiveSession(
                    session_id=str(row["session_id"]),
                    machine_name=str(row["machine_name"]),
                    source_ip=row["source_ip"],
                    start_time=start,
                    last_heartbeat=beat,
                    total_records_processed=recs,
                    current_rate=recs / elapsed if elapsed > 0 else None,
                    status=str(row["status"]),
                    stale=last is not None and (at - last).total_seconds() > stale_after_seconds,
                )
            )
    return out


def error_patterns_query(
    dialect: str, cutoff: datetime, *, aware: bool = False
) -> sa.Select[tuple[object, ...]]:
    """The statement for ``dialect`` (``aware``: synced_at keeps a time zone)."""
    r = records
    caps = capabilities(dialect)
    ok = sa.func.sum(sa.case((r.c.ipfs_fetched == sa.true(), 1), else_=0))
    invalid = sa.func.sum(sa.case((r.c.validation_errors.is_not(None), 1), else_=0))
    total = sa.func.count()
    return (
        sa.select(
            r.c.machine_name,
            r.c.source_ip,
            total.label("total_records"),
            ok.label("ipfs_success"),
            invalid.label("validation_errors"),
        )
        .where(caps.newer_than(r.c.synced_at, cutoff, aware))
        .group_by(r.c.machine_name, r.c.source_ip)
        .order_by(total.desc(), r.c.machine_name)
    )


def error_patterns(
    engine: Engine, *, hours: float = 24, now: datetime | None = None
) -> list[ErrorPattern]:
    """Per machine (and source IP): records synced in the last ``hours``, IPFS successes,
    failures and records with validation errors; most records first."""
    cutoff = utc_now(now) - timedelta(hours=hours)
    with engine.connect() as conn:
        rows = (
            conn.execute(
                error_patterns_query(engine.dialect.name, cutoff, aware=_synced_at_aware(engine))
            )
            .mappings()
            .all()
        )
    out = []
    for row in rows:
        total = int(row["total_records"] or 0)
        ok = int(row["ipfs_success"] or 0)
        out.append(
            ErrorPattern(
                machine_name=str(row["machine_name"]),
                source_ip=row["source_ip"],
                total_records=total,
                ipfs_success=ok,
                ipfs_failed=total - ok,
                validation_errors=int(row["validation_errors"] or 0),
            )
        )
    return out


def hourly_query(
    dialect: str, cutoff: datetime, *, aware: bool = False
) -> sa.Select[tuple[object, ...]]:
    """The statement for ``dialect`` (``aware``: synced_at keeps a time zone)."""
    r = records
    caps = capabilities(dialect)
    bucket = caps.hour_bucket(r.c.synced_at, aware)
    return (
        sa.select(bucket.label("hour_start"), sa.func.count().label("records_processed"))
        .where(caps.newer_than(r.c.synced_at, cutoff, aware))
        .group_by(bucket)
        .order_by(bucket)
    )


def hourly_records(
    engine: Engine,
    *,
    hours: int = 24,
    now: datetime | None = None,
    fill_gaps: bool = False,
) -> list[HourBucket]:
    """Records synced per UTC hour over the last ``hours``, oldest first.

    With ``fill_gaps`` every hour of the window appears (zero when nothing was synced), which is
    what a chart wants; without it only hours with records, like the guide's query.
    """
    at = utc_now(now)
    cutoff = at - timedelta(hours=hours)
    counts: dict[datetime, int] = {}
    with engine.connect() as conn:
        for row in conn.execute(
            hourly_query(engine.dialect.name, cutoff, aware=_synced_at_aware(engine))
        ).mappings():
            hour = as_utc(row["hour_start"])
            if hour is not None:
                counts[hour] = counts.get(hour, 0) + int(row["records_processed"] or 0)
    if fill_gaps:
        first = cutoff.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        h = first
        while h <= at:
            counts.setdefault(h, 0)
            h += timedelta(hours=1)
    return [
        HourBucket(hour=h, records_processed=n, avg_records_per_minute=n / 60.0)
        for h, n in sorted(counts.items())
    ]


def recent_errors_queries(
    dialect: str, cutoff: datetime, limit: int, *, aware: bool = False
) -> list[tuple[str, sa.Select[tuple[object, ...]]]]:
    """(source, statement) for each kind of error message, newest ``limit`` of each."""
    s, p, r = sessions, processed, records
    newer = capabilities(dialect).newer_than(r.c.synced_at, cutoff, aware)
    return [
        (
            "session",
            sa.select(
                s.c.machine_name,
                s.c.session_id.label("place"),
                s.c.error_summary.label("message"),
                sa.func.coalesce(s.c.end_time, s.c.last_heartbeat, s.c.start_time).label(
                    "happened_at"
                ),
            )
            .where(s.c.error_summary.is_not(None))
            .order_by(s.c.start_time.desc())
            .limit(limit),
        ),
        (
            "database",
            sa.select(
                p.c.machine_name,
                p.c.db_path.label("place"),
                p.c.error.label("message"),
                p.c.last_processed.label("happened_at"),
            )
            .where(p.c.error.is_not(None))
            .order_by(p.c.last_processed.desc())
            .limit(limit),
        ),
        (
            "token",
            sa.select(
                r.c.machine_name,
                r.c.node_name,
                r.c.token_id,
                r.c.ipfs_error.label("message"),
                r.c.synced_at.label("happened_at"),
            )
            .where(newer, r.c.ipfs_error.is_not(None))
            .order_by(r.c.synced_at.desc())
            .limit(limit),
        ),
    ]


MAX_MESSAGE = 500


def recent_errors(
    engine: Engine, *, limit: int = 20, hours: float = 24, now: datetime | None = None
) -> list[RecentError]:
    """The newest error messages: failed sessions' summaries, databases' errors and token
    fetch errors of the last ``hours`` (the synced_at index bounds that scan), newest first;
    at most ``limit``. Messages are redacted (no password) and cut at 500 characters."""
    cutoff = utc_now(now) - timedelta(hours=hours)
    queries = recent_errors_queries(
        engine.dialect.name, cutoff, limit, aware=_synced_at_aware(engine)
    )
    out: list[RecentError] = []
    with engine.connect() as conn:
        for source, q in queries:
            for row in conn.execute(q).mappings():
                msg = redact(str(row["message"] or "").strip())
                if not msg:
                    continue
                if len(msg) > MAX_MESSAGE:
                    msg = msg[: MAX_MESSAGE - 1] + "…"
                place = (
                    f"{row['node_name']}/{row['token_id']}"
                    if source == "token"
                    else str(row["place"])
                )
                out.append(
                    RecentError(
                        at=as_utc(row["happened_at"]),
                        source=source,
                        machine_name=str(row["machine_name"]),
                        where=place,
                        message=msg,
                    )
                )
    oldest = datetime.min.replace(tzinfo=UTC)
    out.sort(key=lambda e: e.at or oldest, reverse=True)
    return out[:limit]
