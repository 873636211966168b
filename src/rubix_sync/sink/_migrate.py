"""Create missing tables; add missing columns, indexes and the unique keys to older ones."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateColumn

from .schema import Schema

log = logging.getLogger("rubix_sync.sink")


def ensure_schema(engine: sa.Engine, schema: Schema) -> list[str]:
    """Bring the central database up to ``schema``; return what was changed (for the log).

    Only additive changes: tables, nullable-or-defaulted columns, indexes. Two machines
    starting at once may race on CREATE: the loser re-inspects and finds the work done.
    """
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                return _migrate(conn, schema)
        except (sa.exc.ProgrammingError, sa.exc.IntegrityError):
            # "already exists" from a concurrent creator; anything else is not ours to retry.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _migrate(conn: sa.Connection, schema: Schema) -> list[str]:
    changes: list[str] = []
    insp = sa.inspect(conn)
    existing = {name.lower() for name in insp.get_table_names()}
    for table in schema.metadata.sorted_tables:
        if table.name.lower() not in existing:
            table.create(conn)
            changes.append(f"created table {table.name}")
            continue
        have = {c["name"].lower() for c in insp.get_columns(table.name)}
        for column in table.columns:
            if column.name.lower() not in have:
                _add_column(conn, schema, table, column)
                changes.append(f"added column {table.name}.{column.name}")
        changes += _add_missing_indexes(conn, insp, table)
    for change in changes:
        log.info("central database schema: %s", change)
    return changes


def _add_column(
    conn: sa.Connection, schema: Schema, table: sa.Table, column: sa.Column[Any]
) -> None:
    col = column._copy()
    if not col.nullable and col.server_default is None:
        col.nullable = True  # existing rows have no value for it
    col.primary_key = False
    sa.Table(table.name, sa.MetaData(), col)  # CreateColumn needs a parent table
    dialect = conn.dialect
    spec = str(CreateColumn(col).compile(dialect=dialect)).strip()
    target = dialect.identifier_preparer.format_table(table)
    conn.exec_driver_sql(f"ALTER TABLE {target} {schema.dialect.add_column_keyword} {spec}")


def _add_missing_indexes(conn: sa.Connection, insp: Any, table: sa.Table) -> list[str]:
    changes: list[str] = []
    indexes = insp.get_indexes(table.name)
    names = {i["name"].lower() for i in indexes if i.get("name")}
    unique_sets = {tuple(i["column_names"]) for i in indexes if i.get("unique")}
    for uc in insp.get_unique_constraints(table.name):
        unique_sets.add(tuple(uc["column_names"]))
    pk = insp.get_pk_constraint(table.name)
    if pk and pk.get("constrained_columns"):
        unique_sets.add(tuple(pk["constrained_columns"]))
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and constraint.name:
            cols = tuple(c.name for c in constraint.columns)
            if cols not in unique_sets and str(constraint.name).lower() not in names:
                # Fails (→ SinkError) if the old table holds duplicates: say so rather than guess.
                name = str(constraint.name)
                index = sa.Index(name, *(table.c[c] for c in cols), unique=True)
                index.create(conn)
                table.indexes.discard(index)  # DDL only: the Table keeps its UniqueConstraint
                names.add(name.lower())
                changes.append(f"added unique key {constraint.name}")
    for index in table.indexes:
        if index.name and index.name.lower() not in names:
            index.create(conn)
            changes.append(f"added index {index.name}")
    return changes
