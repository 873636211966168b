"""Build Rubix node databases of either schema generation (demo deployments and tests).

The DDL mirrors what the node's gorm AutoMigrate creates on SQLite (``RUBIX_DATA_MODEL.md``)::

    db = create_node_db(tmp / "Rubix" / "rubix.db", "late-2025",
                        tokens=[{"token_id": cid, "did": did, "token_value": 1.0}],
                        dids=[{"did": did}])

Rows are mappings of column name to value. Columns that the chosen generation lacks (for
example ``created_at`` in 2025-03, or DataTokensTable's ``token_status`` in late-2025) are
dropped, so one set of rows serves both generations; a column no generation knows raises
``ValueError``. Missing columns get the node's zero values (``''``, ``0``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

GEN_2025_03 = "2025-03"
GEN_LATE_2025 = "late-2025"
GENERATIONS = (GEN_2025_03, GEN_LATE_2025)

Row = Mapping[str, object]

# (column, SQLite type) per table; the first column is the primary key.
_BASE: dict[str, list[tuple[str, str]]] = {
    "TokensTable": [
        ("token_id", "text"),
        ("parent_token_id", "text"),
        ("token_value", "real"),
        ("did", "text"),
        ("token_status", "integer"),
        ("token_state_hash", "text"),
        ("transaction_id", "text"),
        ("added", "numeric"),
    ],
    "FTTokenTable": [
        ("token_id", "text"),
        ("ft_name", "text"),
        ("owner_did", "text"),
        ("creator_did", "text"),
        ("token_status", "integer"),
        ("token_value", "real"),
        ("token_state_hash", "text"),
        ("transaction_id", "text"),
    ],
    "NFTTokensTable": [
        ("token_id", "text"),
        ("did", "text"),
        ("token_status", "integer"),
        ("token_value", "real"),
    ],
    "DataTokensTable": [
        ("token_id", "text"),
        ("did", "text"),
        ("commiter_did", "text"),
        ("batch_id", "text"),
        ("token_status", "integer"),
    ],
    "DIDTable": [
        ("did", "text"),
        ("type", "integer"),
        ("did_dir", "text"),
        ("root_did", "integer"),
        ("config", "text"),
    ],
    "TransactionHistory": [
        ("transaction_id", "text"),
        ("transaction_type", "text"),
        ("block_id", "text"),
        ("mode", "integer"),
        ("sender_did", "text"),
        ("receiver_did", "text"),
        ("amount", "real"),
        ("total_time", "real"),
        ("comment", "text"),
        ("date_time", "datetime"),
        ("status", "numeric"),
        ("deployer_did", "text"),
        ("epoch", "integer"),
    ],
}


def _late_2025() -> dict[str, list[tuple[str, str]]]:
    s = {t: list(cols) for t, cols in _BASE.items()}
    s["TokensTable"] += [
        ("sync_status", "integer"),
        ("created_at", "datetime"),
        ("updated_at", "datetime"),
    ]
    s["FTTokenTable"] += [("created_at", "datetime"), ("updated_at", "datetime")]
    s["NFTTokensTable"] += [("metadata", "text"), ("filename", "text")]
    s["DataTokensTable"] = [c for c in s["DataTokensTable"] if c[0] != "token_status"]
    return s


SCHEMAS: dict[str, dict[str, list[tuple[str, str]]]] = {
    GEN_2025_03: _BASE,
    GEN_LATE_2025: _late_2025(),
}

_KNOWN: dict[str, set[str]] = {t: {c for gen in SCHEMAS.values() for c, _ in gen[t]} for t in _BASE}


def table_ddl(table: str, generation: str) -> str:
    """``CREATE TABLE`` as gorm writes it for ``table`` in ``generation``."""
    cols = SCHEMAS[_check_gen(generation)][table]
    body = ",".join(f"`{c}` {t}" for c, t in cols)
    return f"CREATE TABLE `{table}` ({body},PRIMARY KEY (`{cols[0][0]}`))"


def create_node_db(
    path: Path,
    schema: str = GEN_LATE_2025,
    *,
    tokens: Iterable[Row] = (),
    ft_tokens: Iterable[Row] = (),
    nft_tokens: Iterable[Row] = (),
    data_tokens: Iterable[Row] = (),
    dids: Iterable[Row] = (),
    transactions: Iterable[Row] = (),
    omit_tables: Sequence[str] = (),
) -> Path:
    """Create a node database at ``path`` (parents made) holding the given rows; return ``path``.

    ``schema`` is ``"2025-03"`` or ``"late-2025"``. ``omit_tables`` leaves tables out (for
    example ``["DataTokensTable", "DIDTable"]``). Fails if ``path`` exists.
    """
    gen = _check_gen(schema)
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "TokensTable": tokens,
        "FTTokenTable": ft_tokens,
        "NFTTokensTable": nft_tokens,
        "DataTokensTable": data_tokens,
        "DIDTable": dids,
        "TransactionHistory": transactions,
    }
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("BEGIN")
        for table in SCHEMAS[gen]:
            if table in omit_tables:
                continue
            conn.execute(table_ddl(table, gen))
            insert_rows(conn, table, gen, content[table])
        conn.execute("COMMIT")
    finally:
        conn.close()
    return path


def insert_rows(conn: sqlite3.Connection, table: str, schema: str, rows: Iterable[Row]) -> int:
    """``executemany`` the rows into ``table`` (columns as in ``schema``); return the count."""
    cols = SCHEMAS[_check_gen(schema)][table]
    names = [c for c, _ in cols]
    defaults = [_zero(t) for _, t in cols]
    known = _KNOWN[table]

    def values() -> Iterable[tuple[object, ...]]:
        for row in rows:
            unknown = set(row) - known
            if unknown:
                raise ValueError(f"{table} has no column(s) {sorted(unknown)}")
            yield tuple(row.get(n, d) for n, d in zip(names, defaults, strict=True))

    sql = (
        f"INSERT INTO `{table}` ({','.join(f'`{n}`' for n in names)}) "
        f"VALUES ({','.join('?' * len(names))})"
    )
    before = conn.total_changes
    conn.executemany(sql, values())
    return conn.total_changes - before


def _zero(sql_type: str) -> object:
    if sql_type == "text":
        return ""
    if sql_type in ("integer", "real", "numeric"):
        return 0
    return None  # datetime: gorm writes a value; NULL is a fine stand-in


def _check_gen(schema: str) -> str:
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema generation {schema!r}; use one of {GENERATIONS}")
    return schema
