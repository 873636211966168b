"""The central tables, built for one dialect, and the conflict rule every upsert applies.

Names are a contract (the operators' monitoring queries read them): ``TokenRecords``,
``SyncSessions``, ``ProcessedDatabases``, ``DatabaseLeases``. Key columns are bounded strings
small enough to be indexed on SQL Server (a nonclustered key may hold 1,700 bytes of NVARCHAR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .dialects.base import Dialect

TOKEN_RECORDS = "TokenRecords"  # noqa: S105 - a table name
SYNC_SESSIONS = "SyncSessions"
PROCESSED_DATABASES = "ProcessedDatabases"
DATABASE_LEASES = "DatabaseLeases"

KEY_COLUMNS = ("machine_name", "node_name", "token_id")
"""The unique key of ``TokenRecords``: one row per token per node per machine."""

CONTENT_COLUMNS = ("token_level", "ipfs_data", "ipfs_fetched", "ipfs_error", "validation_errors")
"""Fields derived from the fetched content: an earlier success is never overwritten by a failure."""

RECORD_COLUMNS = (
    "machine_name",
    "source_ip",
    "node_name",
    "db_path",
    "token_type",
    "token_id",
    "did",
    "owned",
    "token_status",
    "token_value",
    "parent_token_id",
    "ft_name",
    "creator_did",
    "token_level",
    "ipfs_data",
    "ipfs_fetched",
    "ipfs_error",
    "validation_errors",
    "source_updated_at",
    "synced_at",
)
"""Data columns of ``TokenRecords`` in :class:`rubix_sync.models.TokenRecord` field order
(``synced_at`` last). Every bulk statement binds rows as tuples in this order."""

KEY_INDEXES = tuple(RECORD_COLUMNS.index(c) for c in KEY_COLUMNS)

SESSION_STATUSES = ("RUNNING", "COMPLETED", "FAILED", "INTERRUPTED")
DATABASE_STATUSES = ("IN_PROGRESS", "COMPLETED", "FAILED")

_MACHINE = 128
_NAME = 255
_TOKEN = 128
_PATH = 512


def _token_columns(d: Dialect) -> list[sa.Column[Any]]:
    """The data columns of TokenRecords (shared with the staging tables)."""
    u = sa.Unicode
    return [
        sa.Column("machine_name", u(_MACHINE), nullable=False),
        sa.Column("source_ip", u(64)),
        sa.Column("node_name", u(_NAME), nullable=False),
        sa.Column("db_path", u(_PATH)),
        sa.Column("token_type", u(16), nullable=False),
        sa.Column("token_id", u(_TOKEN), nullable=False),
        sa.Column("did", u(_NAME)),
        sa.Column(
            "owned", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()
        ),
        sa.Column("token_status", sa.Integer),
        sa.Column("token_value", sa.Float),
        sa.Column("parent_token_id", u(_TOKEN)),
        sa.Column("ft_name", u(_PATH)),
        sa.Column("creator_did", u(_NAME)),
        sa.Column("token_level", sa.Integer),
        sa.Column("ipfs_data", d.long_text()),
        sa.Column(
            "ipfs_fetched",
            sa.Boolean(create_constraint=False),
            nullable=False,
            server_default=sa.false(),
        ),
        sa.Column("ipfs_error", d.long_text()),
        sa.Column("validation_errors", d.long_text()),
        sa.Column("source_updated_at", u(64)),
        sa.Column("synced_at", d.datetime_type(), nullable=False),
    ]


@dataclass(frozen=True)
class Schema:
    """The four tables of the central database as built for one dialect."""

    dialect: Dialect
    metadata: sa.MetaData
    tokens: sa.Table
    sessions: sa.Table
    processed: sa.Table
    leases: sa.Table

    def staging_table(self, name: str, **table_kw: Any) -> sa.Table:
        """A table with TokenRecords' data columns (no id, no key), for bulk loading."""
        return sa.Table(name, sa.MetaData(), *_token_columns(self.dialect), **table_kw)


def build_schema(d: Dialect) -> Schema:
    md = sa.MetaData()
    u = sa.Unicode
    tokens = sa.Table(
        TOKEN_RECORDS,
        md,
        sa.Column("id", d.id_type(), primary_key=True, autoincrement=True),
        *_token_columns(d),
        sa.UniqueConstraint(*KEY_COLUMNS, name="uq_TokenRecords_machine_node_token"),
        sa.Index("ix_TokenRecords_synced_at", "synced_at"),
        # Serves "per machine, fetched or not" and the keyset scan of failed fetches per node.
        sa.Index(
            "ix_TokenRecords_machine_fetched", "machine_name", "ipfs_fetched", "node_name", "id"
        ),
    )
    sessions = sa.Table(
        SYNC_SESSIONS,
        md,
        sa.Column("session_id", u(64), primary_key=True),
        sa.Column("machine_name", u(_MACHINE), nullable=False),
        sa.Column("source_ip", u(64)),
        sa.Column("start_time", d.datetime_type()),
        sa.Column("end_time", d.datetime_type()),
        sa.Column("last_heartbeat", d.datetime_type()),
        sa.Column("status", u(16), nullable=False),
        sa.Column("total_databases", sa.Integer, server_default="0"),
        sa.Column("databases_done", sa.Integer, server_default="0"),
        sa.Column("total_records_processed", sa.BigInteger, server_default="0"),
        sa.Column("ipfs_success", sa.BigInteger, server_default="0"),
        sa.Column("ipfs_failed", sa.BigInteger, server_default="0"),
        sa.Column("validation_failed", sa.BigInteger, server_default="0"),
        sa.Column("sql_errors", sa.BigInteger, server_default="0"),
        sa.Column("error_summary", d.long_text()),
        sa.Index("ix_SyncSessions_machine_start", "machine_name", "start_time"),
        sa.Index("ix_SyncSessions_status", "status"),
    )
    processed = sa.Table(
        PROCESSED_DATABASES,
        md,
        sa.Column("id", d.id_type(), primary_key=True, autoincrement=True),
        sa.Column("machine_name", u(_MACHINE), nullable=False),
        sa.Column("db_path", u(_PATH), nullable=False),
        sa.Column("node_name", u(_NAME)),
        sa.Column("fingerprint", u(_NAME)),
        sa.Column("last_processed", d.datetime_type()),
        sa.Column("record_count", sa.BigInteger, server_default="0"),
        sa.Column("ipfs_success_count", sa.BigInteger, server_default="0"),
        sa.Column("ipfs_fail_count", sa.BigInteger, server_default="0"),
        sa.Column("validation_error_count", sa.BigInteger, server_default="0"),
        sa.Column("processing_duration_seconds", sa.Float),
        sa.Column("status", u(16)),
        sa.Column("checkpoint", d.long_text()),
        sa.Column("error", d.long_text()),
        sa.UniqueConstraint("machine_name", "db_path", name="uq_ProcessedDatabases_machine_path"),
    )
    leases = sa.Table(
        DATABASE_LEASES,
        md,
        sa.Column("db_path", u(_PATH), nullable=False),
        sa.Column("holder", u(_NAME)),
        sa.Column("acquired_at", d.datetime_type()),
        sa.Column("expires_at", d.datetime_type()),
        sa.Column("heartbeat", d.datetime_type()),
        # NVARCHAR(512) is over SQL Server's 900-byte clustered key limit.
        sa.PrimaryKeyConstraint("db_path", name="pk_DatabaseLeases", mssql_clustered=False),
    )
    return Schema(d, md, tokens, sessions, processed, leases)


def conflict_assignments(new: Any, old: Any) -> dict[str, sa.ColumnElement[Any]]:
    """``SET`` expressions for an upsert hitting an existing row.

    ``new`` is the incoming row (``excluded`` / the MERGE source), ``old`` the stored one. Row
    fields always take the new value; the content fields take it only when the new fetch
    succeeded or the stored one had not (content is addressed by its ID: it never changes).
    """
    take_new = sa.or_(new.ipfs_fetched == sa.true(), old.ipfs_fetched == sa.false())
    out: dict[str, sa.ColumnElement[Any]] = {}
    for name in RECORD_COLUMNS:
        if name in KEY_COLUMNS:
            continue
        if name in CONTENT_COLUMNS:
            out[name] = sa.case((take_new, new[name]), else_=old[name])
        else:
            out[name] = new[name]
    return out
