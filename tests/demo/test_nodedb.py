"""create_node_db: gorm-like DDL for both generations, rows adapted to the generation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rubix_sync.demo import GEN_2025_03, GEN_LATE_2025, SCHEMAS, create_node_db, table_ddl


def columns(db: Path, table: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
    finally:
        conn.close()


def test_generations_differ_as_documented(tmp_path: Path):
    old = create_node_db(tmp_path / "old.db", GEN_2025_03)
    new = create_node_db(tmp_path / "new.db", GEN_LATE_2025)
    assert columns(old, "TokensTable") == [
        "token_id", "parent_token_id", "token_value", "did", "token_status",
        "token_state_hash", "transaction_id", "added",
    ]  # fmt: skip
    assert columns(new, "TokensTable")[-3:] == ["sync_status", "created_at", "updated_at"]
    assert "token_status" in columns(old, "DataTokensTable")
    assert "token_status" not in columns(new, "DataTokensTable")
    assert columns(new, "NFTTokensTable")[-2:] == ["metadata", "filename"]
    assert columns(new, "FTTokenTable")[:4] == ["token_id", "ft_name", "owner_did", "creator_did"]
    assert set(SCHEMAS[GEN_2025_03]) == {
        "TokensTable", "FTTokenTable", "NFTTokensTable", "DataTokensTable", "DIDTable",
        "TransactionHistory",
    }  # fmt: skip
    assert table_ddl("DIDTable", GEN_2025_03).endswith(",PRIMARY KEY (`did`))")


def test_rows_adapt_and_defaults(tmp_path: Path):
    row = {"token_id": "QmA", "did": "d", "created_at": "2025-11-01", "token_value": 0.5}
    old = create_node_db(tmp_path / "old.db", GEN_2025_03, tokens=[row])
    new = create_node_db(tmp_path / "new.db", GEN_LATE_2025, tokens=[row])
    conn = sqlite3.connect(old)
    try:
        assert conn.execute(
            "SELECT token_id, parent_token_id, token_value, token_status FROM TokensTable"
        ).fetchall() == [("QmA", "", 0.5, 0)]
    finally:
        conn.close()
    conn = sqlite3.connect(new)
    try:
        assert conn.execute("SELECT created_at FROM TokensTable").fetchone() == ("2025-11-01",)
    finally:
        conn.close()


def test_unknown_column_and_bad_generation(tmp_path: Path):
    with pytest.raises(ValueError, match=r"TokensTable has no column\(s\) \['colour'\]"):
        create_node_db(tmp_path / "a.db", GEN_2025_03, tokens=[{"token_id": "x", "colour": 1}])
    with pytest.raises(ValueError, match="unknown schema generation"):
        create_node_db(tmp_path / "b.db", "2019")
    create_node_db(tmp_path / "c.db")
    with pytest.raises(FileExistsError):
        create_node_db(tmp_path / "c.db")


def test_omit_tables(tmp_path: Path):
    db = create_node_db(tmp_path / "x.db", omit_tables=["DataTokensTable", "DIDTable"])
    conn = sqlite3.connect(db)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert "DataTokensTable" not in names and "DIDTable" not in names and "TokensTable" in names
