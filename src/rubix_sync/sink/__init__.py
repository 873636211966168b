"""The central database ("sink"): one object, :class:`CentralDB`, for every backend.

SQLite (embedded default), PostgreSQL (psycopg 3) and SQL Server / Azure SQL (pyodbc). What
differs between them is data in :mod:`rubix_sync.sink.dialects`; the tables are in
:mod:`rubix_sync.sink.schema`.
"""

from .central import CentralDB, ProcessedState
from .schema import (
    DATABASE_LEASES,
    DATABASE_STATUSES,
    PROCESSED_DATABASES,
    SESSION_STATUSES,
    SYNC_SESSIONS,
    TOKEN_RECORDS,
)

__all__ = [
    "DATABASE_LEASES",
    "DATABASE_STATUSES",
    "PROCESSED_DATABASES",
    "SESSION_STATUSES",
    "SYNC_SESSIONS",
    "TOKEN_RECORDS",
    "CentralDB",
    "ProcessedState",
]
