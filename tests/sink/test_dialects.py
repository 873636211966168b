"""Statements compiled with SQLAlchemy's real dialects (SQL Server has no server here)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.schema import CreateTable

from rubix_sync.sink.dialects import DIALECTS, mssql, postgresql
from rubix_sync.sink.schema import CONTENT_COLUMNS, KEY_COLUMNS, RECORD_COLUMNS, build_schema

MSSQL = mssql_pyodbc.dialect(paramstyle="qmark")  # pyodbc's paramstyle, without pyodbc
PG = pg_psycopg.dialect()


@pytest.fixture(scope="module")
def merge() -> mssql.MssqlUpserter:
    return mssql.MssqlUpserter(build_schema(mssql.DIALECT), MSSQL)


def _list(text: str) -> list[str]:
    return [c.strip() for c in text.split(",")]


def test_mssql_merge_statement(merge: mssql.MssqlUpserter) -> None:
    sql = merge.merge_sql
    assert sql.startswith("MERGE INTO [TokenRecords] WITH (HOLDLOCK) AS target ")
    assert "USING #rubix_sync_staging AS source " in sql
    on = re.search(r" ON (.*?) WHEN MATCHED", sql).group(1)
    assert on == " AND ".join(f"target.{k} = source.{k}" for k in KEY_COLUMNS)
    sets = re.search(r"UPDATE SET (.*) WHEN NOT MATCHED BY TARGET", sql).group(1)
    assigned = re.findall(r"(?:^|, )(\w+) = ", sets)
    assert assigned == [c for c in RECORD_COLUMNS if c not in KEY_COLUMNS]
    rule = (
        "CASE WHEN (source.ipfs_fetched = 1 OR target.ipfs_fetched = 0) "
        "THEN source.{0} ELSE target.{0} END"
    )
    for c in CONTENT_COLUMNS:
        assert f"{c} = {rule.format(c)}" in sets
    for c in ("token_status", "owned", "synced_at", "source_ip", "db_path"):
        assert f"{c} = source.{c}" in sets
    insert = re.search(r"THEN INSERT \((.*?)\) VALUES \((.*?)\);$", sql)
    assert _list(insert.group(1)) == list(RECORD_COLUMNS)
    assert _list(insert.group(2)) == [f"source.{c}" for c in RECORD_COLUMNS]
    assert sql.endswith(";")  # MERGE must be terminated


def test_mssql_staging_statements(merge: mssql.MssqlUpserter) -> None:
    assert merge.create_sql.startswith(
        "IF OBJECT_ID('tempdb..#rubix_sync_staging') IS NULL CREATE TABLE #rubix_sync_staging ("
    )
    assert "ipfs_data NVARCHAR(max) NULL" in merge.create_sql
    assert "token_type NVARCHAR(16) NOT NULL" in merge.create_sql
    assert merge.clear_sql == "TRUNCATE TABLE #rubix_sync_staging"
    m = re.fullmatch(r"INSERT INTO #rubix_sync_staging \((.*)\) VALUES \((.*)\)", merge.insert_sql)
    assert m and _list(m.group(1)) == list(RECORD_COLUMNS)
    assert _list(m.group(2)) == ["?"] * len(RECORD_COLUMNS)
    assert len(RECORD_COLUMNS) <= mssql.DIALECT.max_bind_params


def test_mssql_tables_fit_index_limits() -> None:
    schema = build_schema(mssql.DIALECT)
    ddl = str(CreateTable(schema.tokens).compile(dialect=MSSQL))
    assert "id BIGINT NOT NULL IDENTITY" in ddl
    assert "ipfs_data NVARCHAR(max)" in ddl and "synced_at DATETIME2(6) NOT NULL" in ddl
    assert "UNIQUE (machine_name, node_name, token_id)" in ddl
    # Key bytes (NVARCHAR = 2 bytes a char) under SQL Server's limits.
    key = sum(schema.tokens.c[c].type.length * 2 for c in KEY_COLUMNS)
    assert key <= 1700
    leases = str(CreateTable(schema.leases).compile(dialect=MSSQL))
    assert "PRIMARY KEY NONCLUSTERED (db_path)" in leases
    assert schema.leases.c.db_path.type.length * 2 <= 1700


def test_mssql_lease_statements() -> None:
    schema = build_schema(mssql.DIALECT)
    t = schema.leases
    select = mssql.DIALECT.lock_row(sa.select(t.c.holder).where(t.c.db_path == "p"), t)
    text = str(select.compile(dialect=MSSQL))
    assert "FROM [DatabaseLeases] WITH (UPDLOCK, ROWLOCK, READPAST)" in text
    insert = str(mssql.DIALECT.insert_if_missing(t, {"db_path": "p"}).compile(dialect=MSSQL))
    assert insert.startswith("INSERT INTO [DatabaseLeases] (db_path) SELECT ?")
    assert (
        "WHERE NOT (EXISTS (SELECT ? AS anon_2 \nFROM [DatabaseLeases] WITH (UPDLOCK, HOLDLOCK)"
        in insert
    )
    now = str(mssql.DIALECT.plus_seconds(mssql.DIALECT.utc_now(), 1.5).compile(dialect=MSSQL))
    assert now == "dateadd(millisecond, ?, sysutcdatetime())"


def test_mssql_url_gets_odbc_driver_18() -> None:
    url = mssql.DIALECT.prepare_url(sa.make_url("mssql://u:p@host.database.windows.net/db"))
    assert url.drivername == "mssql+pyodbc"
    assert url.query["driver"] == "ODBC Driver 18 for SQL Server"
    given = sa.make_url("mssql+pyodbc://u:p@h/db?driver=ODBC+Driver+17+for+SQL+Server")
    assert mssql.DIALECT.prepare_url(given).query["driver"] == "ODBC Driver 17 for SQL Server"


def test_mssql_transient_classification() -> None:
    class Err(Exception):
        pass

    assert mssql.DIALECT.is_transient(
        Err("40001", "[40001] Transaction (Process ID 52) was deadlocked (1205)")
    )
    assert mssql.DIALECT.is_transient(Err("08S01", "Communication link failure"))
    assert mssql.DIALECT.is_transient(Err("42000", "Database is not currently available (40613)"))
    assert not mssql.DIALECT.is_transient(Err("23000", "Violation of UNIQUE KEY constraint"))


def test_postgresql_statements() -> None:
    schema = build_schema(postgresql.DIALECT)
    up = postgresql.PostgresUpserter(schema, PG)
    assert up.create_sql.startswith("CREATE TEMPORARY TABLE IF NOT EXISTS rubix_sync_staging (")
    assert up.create_sql.rstrip().endswith("ON COMMIT DELETE ROWS")
    assert up.copy_sql == f"COPY rubix_sync_staging ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
    assert up.merge_sql.startswith('INSERT INTO "TokenRecords" (')
    assert "ON CONFLICT (machine_name, node_name, token_id) DO UPDATE SET" in up.merge_sql
    assert (
        "ipfs_data = CASE WHEN (excluded.ipfs_fetched = true OR "
        '"TokenRecords".ipfs_fetched = false) '
        'THEN excluded.ipfs_data ELSE "TokenRecords".ipfs_data END' in up.merge_sql
    )
    t = schema.leases
    select = postgresql.DIALECT.lock_row(sa.select(t.c.holder).where(t.c.db_path == "p"), t)
    assert str(select.compile(dialect=PG)).endswith("FOR UPDATE SKIP LOCKED")
    insert = str(postgresql.DIALECT.insert_if_missing(t, {"db_path": "p"}).compile(dialect=PG))
    assert insert.endswith("ON CONFLICT DO NOTHING")


def test_every_dialect_declares_its_capabilities() -> None:
    assert set(DIALECTS) == {"sqlite", "postgresql", "mssql"}
    for d in DIALECTS.values():
        schema = build_schema(d)
        assert [c.name for c in schema.tokens.columns][1:] == list(RECORD_COLUMNS)
        assert d.max_bind_params >= len(RECORD_COLUMNS)
