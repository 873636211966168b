"""One module per supported central database; :func:`for_kind` picks one."""

from __future__ import annotations

from . import mssql, postgresql, sqlite
from .base import BulkUpserter, Dialect, Row

DIALECTS: dict[str, Dialect] = {
    d.kind: d for d in (sqlite.DIALECT, postgresql.DIALECT, mssql.DIALECT)
}

# URL schemes accepted for each kind (``postgres://`` is what Heroku-style DSNs say).
SCHEMES: dict[str, str] = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "mssql": "mssql",
    "mssql+pyodbc": "mssql",
}

__all__ = ["DIALECTS", "SCHEMES", "BulkUpserter", "Dialect", "Row", "for_kind"]


def for_kind(kind: str) -> Dialect:
    return DIALECTS[kind]
