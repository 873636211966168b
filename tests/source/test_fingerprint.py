"""fingerprint(): size, nanosecond mtime and SQLite's file change counter."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from rubix_sync.demo import GEN_2025_03, create_node_db
from rubix_sync.errors import SourceError
from rubix_sync.source import fingerprint


def parse(fp: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in fp.split(";"))


def test_format_and_stability(tmp_path: Path):
    db = create_node_db(tmp_path / "rubix.db", GEN_2025_03, tokens=[{"token_id": "QmA"}])
    fp = fingerprint(db)
    parts = parse(fp)
    st = os.stat(db)
    assert parts["size"] == str(st.st_size)
    assert parts["mtime_ns"] == str(st.st_mtime_ns)
    with open(db, "rb") as fh:
        header = fh.read(100)
    assert parts["change"] == str(int.from_bytes(header[24:28], "big"))
    assert fingerprint(db) == fp


def test_write_in_same_second_and_size_changes_it(tmp_path: Path):
    db = create_node_db(
        tmp_path / "rubix.db", GEN_2025_03, tokens=[{"token_id": "QmA", "token_status": 0}]
    )
    before = fingerprint(db)
    st = os.stat(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE TokensTable SET token_status = 4 WHERE token_id = 'QmA'")
    conn.close()
    # as if the file system kept second-granular times: same size, same mtime
    os.utime(db, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(db).st_size == st.st_size
    after = fingerprint(db)
    assert after != before
    b, a = parse(before), parse(after)
    assert (a["size"], a["mtime_ns"]) == (b["size"], b["mtime_ns"])
    assert int(a["change"]) == int(b["change"]) + 1


def test_non_sqlite_and_missing(tmp_path: Path):
    f = tmp_path / "rubix.db"
    f.write_bytes(b"garbage")
    assert parse(fingerprint(f))["change"] == "-"
    with pytest.raises(SourceError, match=r"rubix2\.db does not exist"):
        fingerprint(tmp_path / "rubix2.db")


def test_reads_without_writing(tmp_path: Path):
    db = create_node_db(tmp_path / "rubix.db", GEN_2025_03, tokens=[{"token_id": "QmA"}])
    data, st = db.read_bytes(), os.stat(db)
    fingerprint(db)
    assert db.read_bytes() == data and os.stat(db).st_mtime_ns == st.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rubix.db"]


def test_wal_file_is_part_of_it(tmp_path: Path):
    db = create_node_db(tmp_path / "rubix.db", GEN_2025_03, tokens=[{"token_id": "QmA"}])
    before = fingerprint(db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        mid = fingerprint(db)
        conn.execute("INSERT INTO TokensTable (token_id) VALUES ('QmB')")
        after = fingerprint(db)
    finally:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.close()
    assert ";wal=" in after and after != mid and mid != before
