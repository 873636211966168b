"""SQLite (the embedded default): WAL, busy timeout, BEGIN IMMEDIATE, executemany upsert."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sa_sqlite

from .base import Dialect, Row

if TYPE_CHECKING:
    from ..schema import Schema

BUSY_TIMEOUT_MS = 30_000


class SqliteUpserter:
    """``executemany`` of one prepared ``INSERT … ON CONFLICT DO UPDATE``.

    executemany binds one row at a time to a statement prepared once, so SQLite's
    bind-parameter limit (32,766) never applies, whatever the batch size.
    """

    def __init__(self, schema: Schema, dialect: sa.Dialect) -> None:
        from ..schema import KEY_COLUMNS, RECORD_COLUMNS, conflict_assignments

        t = schema.tokens
        stmt = sa_sqlite.insert(t).values({c: sa.bindparam(c) for c in RECORD_COLUMNS})
        stmt = stmt.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS), set_=conflict_assignments(stmt.excluded, t.c)
        )
        compiled = stmt.compile(dialect=dialect)
        order = tuple(compiled.positiontup or ())
        if order != RECORD_COLUMNS:  # pragma: no cover - guards a SQLAlchemy change
            raise RuntimeError(f"unexpected bind order {order}")
        self.sql = str(compiled)

    def upsert(self, conn: sa.Connection, rows: Sequence[Row]) -> None:
        conn.exec_driver_sql(self.sql, list(rows))


def _on_engine(engine: sa.Engine) -> None:
    busy = "timeout" not in engine.url.query

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so "begin" below can say IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            if busy:
                cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads and then writes can
        # fail with SQLITE_BUSY at once instead of waiting for the busy timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    return False


def _insert_if_missing(table: sa.Table, values: dict[str, Any]) -> sa.Executable:
    return sa_sqlite.insert(table).values(values).on_conflict_do_nothing()


def _fmt(dt: datetime) -> str:
    # SQLAlchemy's own storage format for DateTime on SQLite, so reads parse it back.
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def _utc_now() -> sa.ColumnElement[Any]:
    # One machine: its clock is the database's clock.
    from datetime import timezone

    return sa.literal(datetime.now(timezone.utc).replace(tzinfo=None), sa.DateTime())


def _plus_seconds(expr: sa.ColumnElement[Any], seconds: float) -> sa.ColumnElement[Any]:
    # Only ever applied to _utc_now(), whose value is known here.
    from datetime import timedelta

    value = getattr(expr, "value", None)
    if not isinstance(value, datetime):  # pragma: no cover - programming error
        raise TypeError("sqlite plus_seconds needs a literal datetime")
    return sa.literal(value + timedelta(seconds=seconds), sa.DateTime())


def _engine_kwargs(url: sa.URL) -> dict[str, Any]:
    if url.database in (None, "", ":memory:"):
        return {}
    return {"pool_size": 8, "max_overflow": 8, "pool_timeout": 60}


DIALECT = Dialect(
    kind="sqlite",
    drivername="sqlite+pysqlite",
    extra=None,
    driver_module=None,
    max_bind_params=32_766,
    long_text=sa.UnicodeText,
    id_type=sa.Integer,  # INTEGER PRIMARY KEY: the rowid, 64-bit anyway
    datetime_type=sa.DateTime,
    add_column_keyword="ADD COLUMN",
    dedupe_batch=False,
    make_upserter=SqliteUpserter,
    datetime_param=_fmt,
    utc_now=_utc_now,
    plus_seconds=_plus_seconds,
    insert_if_missing=_insert_if_missing,
    lock_row=lambda select, table: select,  # BEGIN IMMEDIATE already holds the write lock
    engine_kwargs=_engine_kwargs,
    on_engine=_on_engine,
    is_transient=_is_transient,
    operational_is_transient=False,
)
