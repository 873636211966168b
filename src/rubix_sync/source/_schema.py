"""Which node tables and columns to read, adapted to the schema generation found on disk.

Both generations (2025-03 and late-2025, see ``RUBIX_DATA_MODEL.md``) and older variants are
read through one description: for every field of a :class:`~rubix_sync.models.TokenRow`, the
columns that may hold it, first match wins. A column that is absent reads as NULL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

TOKENS = "TokensTable"
FT_TOKENS = "FTTokenTable"
NFT_TOKENS = "NFTTokensTable"
DATA_TOKENS = "DataTokensTable"
DID_TABLE = "DIDTable"

TABLE_ORDER = (TOKENS, FT_TOKENS, NFT_TOKENS, DATA_TOKENS)
"""Tables are read in this fixed order; checkpoints rely on it."""

# The TokenRow fields read from a table, in SELECT order after token_id.
FIELDS = ("did", "token_status", "token_value", "parent_token_id", "ft_name", "creator_did")

_CANDIDATES: dict[str, dict[str, tuple[str, ...]]] = {
    TOKENS: {
        "did": ("did",),
        "token_status": ("token_status",),
        "token_value": ("token_value",),
        "parent_token_id": ("parent_token_id",),
    },
    FT_TOKENS: {
        "did": ("owner_did", "did"),
        "token_status": ("token_status",),
        "token_value": ("token_value",),
        "ft_name": ("ft_name",),
        "creator_did": ("creator_did",),
    },
    NFT_TOKENS: {
        "did": ("did", "owner_did"),
        "token_status": ("token_status",),
        "token_value": ("token_value",),
        "creator_did": ("creator_did",),
    },
    DATA_TOKENS: {
        "did": ("did",),
        "token_status": ("token_status",),
        "creator_did": ("commiter_did", "committer_did", "creator_did"),
    },
}
_UPDATED = ("updated_at", "created_at")
_TEXT_FIELDS = frozenset({"did", "parent_token_id", "ft_name", "creator_did"})


def quote(ident: str) -> str:
    """An SQLite identifier, double-quoted."""
    return '"' + ident.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class TablePlan:
    """How to read one token table of one database."""

    logical: str
    """The table's canonical name (one of ``TABLE_ORDER``)."""
    actual: str
    """Its name as spelled in this database."""
    select_list: str
    """``token_id`` then one expression per name in ``FIELDS``, then source_updated_at."""

    def first_page_sql(self) -> str:
        return (
            f"SELECT {self.select_list} FROM {quote(self.actual)} "
            "WHERE typeof(token_id) = 'text' ORDER BY token_id LIMIT ?"
        )

    def next_page_sql(self) -> str:
        return (
            f"SELECT {self.select_list} FROM {quote(self.actual)} "
            "WHERE token_id > ? AND typeof(token_id) = 'text' ORDER BY token_id LIMIT ?"
        )


def table_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Lower-case table name -> name as spelled in the database."""
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(r[0]).lower(): str(r[0]) for r in rows}


def columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Lower-case column name -> name as spelled, from ``PRAGMA table_info``."""
    rows = conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
    return {str(r[1]).lower(): str(r[1]) for r in rows}


def plan_tables(conn: sqlite3.Connection) -> list[TablePlan]:
    """One plan per token table present (with a ``token_id`` column), in ``TABLE_ORDER``."""
    names = table_names(conn)
    plans: list[TablePlan] = []
    for logical in TABLE_ORDER:
        actual = names.get(logical.lower())
        if actual is None:
            continue
        cols = columns(conn, actual)
        if "token_id" not in cols:
            continue
        exprs = [quote(cols["token_id"])]
        wanted = _CANDIDATES[logical]
        for field in FIELDS:
            expr = _first(cols, wanted.get(field, ()))
            # gorm writes '' for an unset string: read it as NULL
            exprs.append(
                f"NULLIF({expr}, '')" if field in _TEXT_FIELDS and expr != "NULL" else expr
            )
        updated = [f"NULLIF({quote(cols[c])}, '')" for c in _UPDATED if c in cols]
        if len(updated) > 1:
            exprs.append(f"COALESCE({', '.join(updated)})")
        else:
            exprs.append(updated[0] if updated else "NULL")
        plans.append(TablePlan(logical=logical, actual=actual, select_list=", ".join(exprs)))
    return plans


def _first(cols: dict[str, str], candidates: tuple[str, ...]) -> str:
    for c in candidates:
        if c in cols:
            return quote(cols[c])
    return "NULL"
