"""SQL Server / Azure SQL through pyodbc (ODBC Driver 18): staging #table + MERGE WITH (HOLDLOCK).

No server runs in the test environment: the statements below are compiled with SQLAlchemy's
real mssql dialect and their text is checked by the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import mssql as sa_mssql
from sqlalchemy.schema import CreateTable

from .base import Dialect, Row

if TYPE_CHECKING:
    from ..schema import Schema

STAGING = "#rubix_sync_staging"
ODBC_DRIVER = "ODBC Driver 18 for SQL Server"
LOCK_HINT = "WITH (UPDLOCK, ROWLOCK, READPAST)"
"""Lock the lease row, or skip it when another transaction holds it (no waiting)."""
INSERT_GUARD_HINT = "WITH (UPDLOCK, HOLDLOCK)"

# Azure SQL's "try again" errors (throttling, failover, database moving).
_AZURE_TRANSIENT = (
    "40613",
    "40501",
    "40197",
    "40540",
    "10928",
    "10929",
    "49918",
    "49919",
    "49920",
    "4060",
    "1205",
)


class MssqlUpserter:
    """fast_executemany into a session temp table, then one MERGE per batch."""

    def __init__(self, schema: Schema, dialect: sa.Dialect) -> None:
        from ..schema import KEY_COLUMNS, RECORD_COLUMNS, conflict_assignments

        staging = schema.staging_table(STAGING, quote=False)
        q = dialect.identifier_preparer
        create = str(CreateTable(staging).compile(dialect=dialect)).strip()
        self.create_sql = f"IF OBJECT_ID('tempdb..{STAGING}') IS NULL {create}"
        self.clear_sql = f"TRUNCATE TABLE {q.format_table(staging)}"
        insert = sa.insert(staging).compile(dialect=dialect, column_keys=list(RECORD_COLUMNS))
        if tuple(insert.positiontup or ()) != RECORD_COLUMNS:
            raise RuntimeError("the mssql dialect must use a positional paramstyle (qmark)")
        self.insert_sql = str(insert)

        target = schema.tokens.alias("target")
        source = staging.alias("source")

        def sql(expr: sa.ColumnElement[Any]) -> str:
            return str(expr.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

        on = sql(sa.and_(*(target.c[k] == source.c[k] for k in KEY_COLUMNS)))
        sets = ", ".join(
            f"{q.quote(name)} = {sql(expr)}"
            for name, expr in conflict_assignments(source.c, target.c).items()
        )
        cols = ", ".join(q.quote(c) for c in RECORD_COLUMNS)
        vals = ", ".join(sql(source.c[c]) for c in RECORD_COLUMNS)
        self.merge_sql = (
            f"MERGE INTO {q.format_table(schema.tokens)} WITH (HOLDLOCK) AS target "
            f"USING {q.format_table(staging)} AS source ON {on} "
            f"WHEN MATCHED THEN UPDATE SET {sets} "
            f"WHEN NOT MATCHED BY TARGET THEN INSERT ({cols}) VALUES ({vals});"
        )

    def upsert(self, conn: sa.Connection, rows: Sequence[Row]) -> None:  # pragma: no cover
        conn.exec_driver_sql(self.create_sql)
        conn.exec_driver_sql(self.clear_sql)
        conn.exec_driver_sql(self.insert_sql, list(rows))  # fast_executemany (engine option)
        conn.exec_driver_sql(self.merge_sql)


def _is_transient(exc: BaseException) -> bool:
    args = getattr(exc, "args", ())
    sqlstate = args[0] if args and isinstance(args[0], str) else ""
    if sqlstate.startswith("08") or sqlstate in ("40001", "HYT00", "HYT01"):
        return True
    text = str(exc)
    return any(f"({code})" in text for code in _AZURE_TRANSIENT) or "deadlock" in text.lower()


def _insert_if_missing(table: sa.Table, values: dict[str, Any]) -> sa.Executable:
    pk = list(table.primary_key.columns)
    guard = (
        sa.select(sa.literal(1))
        .select_from(table)
        .with_hint(table, INSERT_GUARD_HINT, "mssql")
        .where(*(c == values[c.name] for c in pk))
    )
    src = sa.select(*(sa.literal(v, table.c[k].type) for k, v in values.items())).where(
        ~sa.exists(guard)
    )
    return sa.insert(table).from_select(list(values), src)


def _utc_now() -> sa.ColumnElement[Any]:
    return sa.func.sysutcdatetime(type_=sa_mssql.DATETIME2())


def _plus_seconds(expr: sa.ColumnElement[Any], seconds: float) -> sa.ColumnElement[Any]:
    return sa.func.dateadd(
        sa.literal_column("millisecond"), int(seconds * 1000), expr, type_=sa_mssql.DATETIME2()
    )


def _lock_row(select: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    return select.with_hint(table, LOCK_HINT, "mssql")


def _prepare_url(url: sa.URL) -> sa.URL:
    url = url.set(drivername="mssql+pyodbc")
    if url.query.get("odbc_connect") or url.query.get("driver"):
        return url
    return url.update_query_dict({"driver": ODBC_DRIVER})


def _engine_kwargs(url: sa.URL) -> dict[str, Any]:
    return {
        "fast_executemany": True,
        "pool_size": 8,
        "max_overflow": 8,
        "pool_timeout": 60,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
    }


def _datetime_param(dt: datetime) -> datetime:
    return dt


DIALECT = Dialect(
    kind="mssql",
    drivername="mssql+pyodbc",
    extra="mssql",
    driver_module="pyodbc",
    max_bind_params=2_100,
    long_text=lambda: sa_mssql.NVARCHAR(None),  # NVARCHAR(max), whatever the server version
    id_type=sa.BigInteger,
    datetime_type=lambda: sa_mssql.DATETIME2(precision=6),
    add_column_keyword="ADD",
    dedupe_batch=True,  # MERGE may not update one target row twice
    make_upserter=MssqlUpserter,
    datetime_param=_datetime_param,
    utc_now=_utc_now,
    plus_seconds=_plus_seconds,
    insert_if_missing=_insert_if_missing,
    lock_row=_lock_row,
    engine_kwargs=_engine_kwargs,
    is_transient=_is_transient,
    prepare_url=_prepare_url,
)
