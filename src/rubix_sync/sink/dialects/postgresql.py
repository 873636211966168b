"""PostgreSQL through psycopg 3: COPY into a temporary table, then one INSERT … ON CONFLICT."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as sa_pg
from sqlalchemy.schema import CreateTable

from .base import Dialect, Row

if TYPE_CHECKING:
    from ..schema import Schema

STAGING = "rubix_sync_staging"
_READY = "rubix_sync_staging_ready"


class PostgresUpserter:
    """COPY the batch into a session-local temp table, then merge it in one statement."""

    def __init__(self, schema: Schema, dialect: sa.Dialect) -> None:
        from ..schema import KEY_COLUMNS, RECORD_COLUMNS, conflict_assignments

        staging = schema.staging_table(
            STAGING, prefixes=["TEMPORARY"], postgresql_on_commit="DELETE ROWS"
        )
        self.create_sql = str(
            CreateTable(staging, if_not_exists=True).compile(dialect=dialect)
        ).strip()
        q = dialect.identifier_preparer
        cols = ", ".join(q.quote(c) for c in RECORD_COLUMNS)
        self.copy_sql = f"COPY {q.format_table(staging)} ({cols}) FROM STDIN"
        t = schema.tokens
        stmt = sa_pg.insert(t).from_select(
            list(RECORD_COLUMNS), sa.select(*(staging.c[c] for c in RECORD_COLUMNS))
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS), set_=conflict_assignments(stmt.excluded, t.c)
        )
        self.merge_sql = str(stmt.compile(dialect=dialect))

    def upsert(self, conn: sa.Connection, rows: Sequence[Row]) -> None:
        dbapi = conn.connection
        if not dbapi.info.get(_READY):
            conn.exec_driver_sql(self.create_sql)
        pg = dbapi.driver_connection
        assert pg is not None
        import psycopg

        try:
            with pg.cursor() as cur:
                # ON COMMIT DELETE ROWS: the table is empty at the start of every transaction.
                with cur.copy(self.copy_sql) as copy:
                    write = copy.write_row
                    for row in rows:
                        write(row)
                cur.execute(self.merge_sql)
        except psycopg.Error as exc:
            # Raw cursor: wrap the driver error the way SQLAlchemy would (IntegrityError...).
            raise sa.exc.DBAPIError.instance(
                self.copy_sql, None, exc, psycopg.Error, dialect=conn.dialect
            ) from exc
        # Created inside this transaction: if it rolls back, the "rollback" hook drops the mark.
        dbapi.info[_READY] = True


def _on_engine(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "rollback")
    def _rollback(conn: sa.Connection) -> None:
        # A rollback may have undone the CREATE TEMP TABLE of this transaction.
        with contextlib.suppress(Exception):  # the connection may be invalidated already
            conn.connection.info.pop(_READY, None)


def _is_transient(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None) or ""
    # 40xxx transaction rollback (serialization, deadlock), 08xxx connection, 53xxx resources,
    # 55P03 lock not available, 57P0x admin shutdown / cannot connect now.
    return sqlstate[:2] in ("40", "08", "53") or sqlstate in ("55P03", "57P01", "57P02", "57P03")


def _insert_if_missing(table: sa.Table, values: dict[str, Any]) -> sa.Executable:
    return sa_pg.insert(table).values(values).on_conflict_do_nothing()


def _utc_now() -> sa.ColumnElement[Any]:
    return sa.func.timezone("UTC", sa.func.clock_timestamp(), type_=sa.DateTime())


def _plus_seconds(expr: sa.ColumnElement[Any], seconds: float) -> sa.ColumnElement[Any]:
    return expr + sa.literal(timedelta(seconds=seconds), sa.Interval())


def _lock_row(select: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    return select.with_for_update(skip_locked=True)


def _prepare_url(url: sa.URL) -> sa.URL:
    return url.set(drivername="postgresql+psycopg")


def _engine_kwargs(url: sa.URL) -> dict[str, Any]:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    if "application_name" not in url.query:
        connect_args["application_name"] = "rubix-sync"
    return {
        "pool_size": 8,
        "max_overflow": 8,
        "pool_timeout": 60,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": connect_args,
    }


def _datetime_param(dt: datetime) -> datetime:
    return dt


DIALECT = Dialect(
    kind="postgresql",
    drivername="postgresql+psycopg",
    extra="postgres",
    driver_module="psycopg",
    max_bind_params=65_535,
    long_text=sa.UnicodeText,
    id_type=sa.BigInteger,  # ON CONFLICT consumes a sequence value per conflicting row
    datetime_type=sa.DateTime,
    add_column_keyword="ADD COLUMN",
    dedupe_batch=True,  # ON CONFLICT DO UPDATE cannot affect one row twice
    make_upserter=PostgresUpserter,
    datetime_param=_datetime_param,
    utc_now=_utc_now,
    plus_seconds=_plus_seconds,
    insert_if_missing=_insert_if_missing,
    lock_row=_lock_row,
    idle_transaction_timeout_sql="SET idle_in_transaction_session_timeout = {ms}",
    engine_kwargs=_engine_kwargs,
    on_engine=_on_engine,
    is_transient=_is_transient,
    prepare_url=_prepare_url,
)
