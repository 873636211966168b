"""The floor of bench_sync.py: a plain single-process script doing the same I/O as a sync.

It reads every token row of every node database, reads and sha256-hashes the token's block
file, and bulk-inserts one row per token (SQLite executemany, PostgreSQL COPY). Run by
bench_sync.py as ``python -c <this file> ROOT URL``; prints the number of rows inserted.
"""

import hashlib
import sqlite3
import sys
from pathlib import Path

from rubix_sync.ipfs.cid import flatfs_key

TABLES = ("TokensTable", "FTTokenTable", "NFTTokensTable", "DataTokensTable")
DDL = "CREATE TABLE IF NOT EXISTS floor (node TEXT, token_id TEXT, digest TEXT, data TEXT)"


def block_path(repo, cid):
    key = flatfs_key(cid)
    return repo / "blocks" / key[-3:-1] / f"{key}.data"


def rows(root):
    for db in sorted(root.glob("*/Rubix/rubix.db")):
        repo = db.parent.parent / ".ipfs"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        for table in TABLES:
            try:
                cur = conn.execute(f"SELECT * FROM {table}")
            except sqlite3.OperationalError:
                continue
            for row in cur:
                cid = row[0]
                try:
                    with open(block_path(repo, cid), "rb") as f:
                        data = f.read()
                    digest = hashlib.sha256(data).hexdigest()
                except FileNotFoundError:
                    data, digest = b"", ""
                yield (db.parent.parent.name, cid, digest, data[6:-3].decode("utf-8", "replace"))
        conn.close()


def batches(root, size=1000):
    batch = []
    for r in rows(root):
        batch.append(r)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def to_sqlite(root, url):
    out = sqlite3.connect(url.split("///", 1)[1])
    out.execute(DDL)
    n = 0
    for batch in batches(root):
        out.executemany("INSERT INTO floor VALUES (?,?,?,?)", batch)
        out.commit()
        n += len(batch)
    return n


def to_postgres(root, url):
    import psycopg

    n = 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as out:
        out.execute(DDL)
        for batch in batches(root):
            with out.cursor() as cur, cur.copy("COPY floor FROM STDIN") as cp:
                for r in batch:
                    cp.write_row(r)
            out.commit()
            n += len(batch)
    return n


root, url = Path(sys.argv[1]), sys.argv[2]
print(to_sqlite(root, url) if url.startswith("sqlite") else to_postgres(root, url))
