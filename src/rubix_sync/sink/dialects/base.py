"""What a central-database dialect must declare: capabilities as data, plus one bulk upserter.

Each supported backend is one small module beside this one (``sqlite``, ``postgresql``,
``mssql``) exporting a :class:`Dialect` instance. The writer never asks "which database is
this?": it reads the capabilities and calls the dialect's :class:`BulkUpserter`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

if TYPE_CHECKING:
    from ..schema import Schema

Row = tuple[Any, ...]
"""One ``TokenRecords`` row in :data:`rubix_sync.sink.schema.RECORD_COLUMNS` order."""


class BulkUpserter(Protocol):
    """Writes one batch of rows into ``TokenRecords`` inside the caller's transaction."""

    def upsert(self, conn: sa.Connection, rows: Sequence[Row]) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """Capabilities of one backend. Everything dialect-specific the sink needs lives here."""

    kind: str
    """``sqlite``, ``postgresql`` or ``mssql``: also ``CentralDB.kind``."""
    drivername: str
    """The SQLAlchemy ``dialect+driver`` used (``postgresql+psycopg``...)."""
    extra: str | None
    """The ``pip install 'rubix-sync[<extra>]'`` naming its optional driver, if any."""
    driver_module: str | None
    """Module whose absence means the optional driver is not installed."""
    max_bind_params: int
    """Most bound parameters one statement may carry."""
    long_text: Callable[[], sa.types.TypeEngine[Any]]
    """Type of unbounded text columns (``ipfs_data``...)."""
    id_type: Callable[[], sa.types.TypeEngine[Any]]
    """Type of autoincrement surrogate keys."""
    datetime_type: Callable[[], sa.types.TypeEngine[Any]]
    """Type of timestamp columns (naive UTC)."""
    add_column_keyword: str
    """``ALTER TABLE t <keyword> <column>``: ``ADD COLUMN`` or plain ``ADD``."""
    dedupe_batch: bool
    """The bulk statement cannot touch one key twice: keep the last row per key."""
    make_upserter: Callable[[Schema, sa.Dialect], BulkUpserter]
    """Builds the dialect's bulk upserter; statements are compiled once, here."""
    datetime_param: Callable[[datetime], Any]
    """How a naive-UTC datetime is bound when rows bypass SQLAlchemy's type processing."""
    utc_now: Callable[[], sa.ColumnElement[Any]]
    """An SQL expression for "now" in naive UTC, from the database's clock when it has one."""
    plus_seconds: Callable[[sa.ColumnElement[Any], float], sa.ColumnElement[Any]]
    """``expr + seconds`` as SQL."""
    insert_if_missing: Callable[[sa.Table, dict[str, Any]], sa.Executable]
    """An INSERT of one row that does nothing when the primary key already exists."""
    lock_row: Callable[[sa.Select[Any], sa.Table], sa.Select[Any]]
    """Turn a one-row SELECT into "lock it, or skip it if another transaction holds it"."""
    engine_kwargs: Callable[[sa.URL], dict[str, Any]] = field(default=lambda url: {})
    """Extra ``create_engine`` arguments (pool sizing, driver options)."""
    on_engine: Callable[[sa.Engine], None] = field(default=lambda engine: None)
    """Install connect/begin hooks on a fresh engine (PRAGMAs, BEGIN IMMEDIATE...)."""
    is_transient: Callable[[BaseException], bool] = field(default=lambda exc: False)
    """Does this driver error mean "retry" (busy, deadlock, connection dropped...)?"""
    operational_is_transient: bool = True
    """Treat every DB-API ``OperationalError`` as transient (not SQLite's: "no such table"...)."""
    idle_transaction_timeout_sql: str | None = None
    """Statement (with ``{ms}``) run on each new connection so the server aborts a transaction
    left idle by a frozen client, releasing its lease row lock; None where there is none."""
    prepare_url: Callable[[sa.URL], sa.URL] = field(default=lambda url: url)
    """Fill in defaults on the URL (ODBC driver name...)."""


def default_dedupe(rows: Sequence[Row], key: Callable[[Row], Any]) -> list[Row]:
    """Keep the last row for each key, in first-seen order."""
    seen: dict[Any, Row] = {}
    for row in rows:
        seen[key(row)] = row
    return list(seen.values()) if len(seen) != len(rows) else list(rows)
