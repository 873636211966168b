"""Read-only access to the central database for the fleet views.

The fleet code only reads, so it names the sink's tables and columns with lightweight
``sqlalchemy.table()`` / ``column()`` constructs instead of importing the sink's metadata: the
queries keep working whatever extra columns, indexes or types the writer chooses.

Dialect differences live in one place, :class:`Capabilities` (hour truncation, "newer than"
comparisons), looked up by ``engine.dialect.name``; timestamps are normalised to aware UTC
``datetime`` objects in Python (:func:`as_utc`), whichever way the driver returns them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mssql import DATETIME2
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.elements import ColumnElement

from ..errors import ConfigError

UTC = timezone.utc

DEFAULT_DATABASE_URL = "sqlite:///rubix_sync.db"
DATABASE_URL_ENV = "RUBIX_SYNC_DATABASE_URL"

sessions = sa.table(
    "SyncSessions",
    sa.column("session_id"),
    sa.column("machine_name"),
    sa.column("source_ip"),
    sa.column("start_time"),
    sa.column("end_time"),
    sa.column("last_heartbeat"),
    sa.column("status"),
    sa.column("total_databases", sa.Integer),
    sa.column("databases_done", sa.Integer),
    sa.column("total_records_processed", sa.Integer),
    sa.column("ipfs_success", sa.Integer),
    sa.column("ipfs_failed", sa.Integer),
    sa.column("validation_failed", sa.Integer),
    sa.column("sql_errors", sa.Integer),
    sa.column("error_summary"),
)

records = sa.table(
    "TokenRecords",
    sa.column("machine_name"),
    sa.column("source_ip"),
    sa.column("node_name"),
    sa.column("token_id"),
    sa.column("token_type"),
    sa.column("ipfs_fetched", sa.Boolean),
    sa.column("ipfs_error"),
    sa.column("validation_errors"),
    sa.column("synced_at"),
)

processed = sa.table(
    "ProcessedDatabases",
    sa.column("machine_name"),
    sa.column("db_path"),
    sa.column("node_name"),
    sa.column("last_processed"),
    sa.column("status"),
    sa.column("error"),
)


def as_utc(value: object) -> datetime | None:
    """A fetched timestamp as an aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_now(now: datetime | None = None) -> datetime:
    """``now`` as aware UTC (default: the current time)."""
    return datetime.now(UTC) if now is None else as_utc(now)  # type: ignore[return-value]


def iso(value: datetime | None) -> str | None:
    """``2026-12-03T13:45:00Z`` (seconds precision) or None."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- dialect capabilities -------------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    """What differs between the supported databases, as data.

    ``hour_bucket(col, aware)`` truncates a timestamp column to its UTC hour, rendered with
    literal constants only (SQL Server and PostgreSQL refuse a GROUP BY whose expression differs
    from the select list by bound parameters). ``newer_than(col, cutoff, aware)`` is the
    ``col > cutoff`` filter. ``aware`` says whether the column stores a time zone.
    """

    hour_bucket: Callable[[ColumnElement[Any], bool], ColumnElement[Any]]
    newer_than: Callable[[ColumnElement[Any], datetime, bool], ColumnElement[bool]]


def _sqlite_bucket(col: ColumnElement[Any], aware: bool) -> ColumnElement[Any]:
    # strftime understands "YYYY-MM-DD HH:MM:SS[.ffffff]", the "T" form and "+HH:MM" suffixes.
    return sa.func.strftime(sa.literal_column("'%Y-%m-%d %H:00:00'"), col)


def _sqlite_newer(col: ColumnElement[Any], cutoff: datetime, aware: bool) -> ColumnElement[bool]:
    # The sink stores SQLAlchemy's SQLite DateTime text, "YYYY-MM-DD HH:MM:SS.ffffff" (naive
    # UTC): the same text form compares in time order and keeps the synced_at index usable.
    text = cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return col > sa.bindparam(None, text, type_=sa.String)


def _pg_bucket(col: ColumnElement[Any], aware: bool) -> ColumnElement[Any]:
    if aware:  # date_trunc on timestamptz would truncate in the session's time zone
        col = sa.func.timezone(sa.literal_column("'UTC'"), col)
    return sa.func.date_trunc(sa.literal_column("'hour'"), col)


def _mssql_bucket(col: ColumnElement[Any], aware: bool) -> ColumnElement[Any]:
    if aware:  # DATETIMEOFFSET: drop the offset after converting to UTC
        col = sa.cast(sa.func.switchoffset(col, sa.literal_column("'+00:00'")), DATETIME2)
    hour: ColumnElement[Any] = sa.literal_column("hour")
    zero: ColumnElement[Any] = sa.literal_column("0")
    return sa.func.dateadd(hour, sa.func.datediff(hour, zero, col), zero)


def _typed_newer(col: ColumnElement[Any], cutoff: datetime, aware: bool) -> ColumnElement[bool]:
    value = cutoff.astimezone(UTC)
    if not aware:
        value = value.replace(tzinfo=None)
    return col > sa.bindparam(None, value, type_=sa.DateTime(timezone=aware))


CAPABILITIES: dict[str, Capabilities] = {
    "sqlite": Capabilities(hour_bucket=_sqlite_bucket, newer_than=_sqlite_newer),
    "postgresql": Capabilities(hour_bucket=_pg_bucket, newer_than=_typed_newer),
    "mssql": Capabilities(hour_bucket=_mssql_bucket, newer_than=_typed_newer),
}


def capabilities(dialect: str) -> Capabilities:
    """The :class:`Capabilities` of a dialect name (``engine.dialect.name``)."""
    try:
        return CAPABILITIES[dialect]
    except KeyError:
        raise ConfigError(
            f"The fleet views do not support {dialect!r} databases. "
            "Use SQLite, PostgreSQL or SQL Server."
        ) from None


_aware_cache: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], bool]] = (
    weakref.WeakKeyDictionary()
)
_aware_lock = threading.Lock()


def column_is_aware(engine: Engine, table: str, column: str) -> bool:
    """Whether ``table.column`` stores a time zone (timestamptz, DATETIMEOFFSET); cached."""
    if engine.dialect.name == "sqlite":
        return False
    with _aware_lock:
        per_engine = _aware_cache.setdefault(engine, {})
        if (table, column) in per_engine:
            return per_engine[(table, column)]
    aware = False
    for info in sa.inspect(engine).get_columns(table):
        if info["name"].lower() == column.lower():
            typ = info["type"]
            aware = bool(getattr(typ, "timezone", False)) or "OFFSET" in type(typ).__name__.upper()
            break
    with _aware_lock:
        per_engine[(table, column)] = aware
    return aware


# --- opening a database for reading ---------------------------------------------------------


def resolve_url(url: str | None, environ: dict[str, str] | None = None) -> str:
    """``--database`` value, else ``$RUBIX_SYNC_DATABASE_URL``, else ``sqlite:///rubix_sync.db``."""
    if url:
        return url
    import os

    env = os.environ if environ is None else environ
    return env.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def open_engine(url: str) -> Engine:
    """An engine on an existing central database, checked with one round trip.

    URL handling, driver checks and engine options are the sink's
    (``CentralDB.connect(url, create=False)``); this adds that a SQLite file must already
    exist: a read-only view never creates one. Raises :class:`ConfigError` (bad URL, missing
    file), :class:`MissingDependencyError` or :class:`SinkError` (unreachable), password masked.
    """
    from ..sink import CentralDB

    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None  # the sink explains what a valid URL looks like
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not db.startswith("file:") and not Path(db).is_file():
            raise ConfigError(
                f"Central database {str(Path(db).resolve())!r} does not exist. Run "
                f"'rubix-sync run' first or pass --database URL (or ${DATABASE_URL_ENV})."
            )
    return CentralDB.connect(url, create=False).engine


def has_sessions_table(engine: Engine) -> bool:
    return sa.inspect(engine).has_table("SyncSessions")
