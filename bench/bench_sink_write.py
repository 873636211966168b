"""Throughput of CentralDB.write_batch (not a test: run it by hand).

    .venv/bin/python tests/sink/bench_write.py [URL] [--batches N]

URL defaults to a fresh SQLite file in a temporary folder. Prints records/s for the first
insert and for re-upserting the same records (a re-run), 1,000 records a batch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rubix_sync.models import TokenRecord
from rubix_sync.sink import CentralDB

CONTENT = '{"level": 1, "number": 42, "hash": "' + "ab" * 64 + '"}' + " " * 150


def batch(b: int, size: int, synced_at: str) -> list[TokenRecord]:
    out = []
    for i in range(size):
        n = b * size + i
        ok = n % 20 != 0
        out.append(
            TokenRecord(
                "vm-bench",
                "10.0.0.1",
                f"node{b % 20}",
                f"/data/node{b % 20}/Rubix/rubix.db",
                "RBT",
                f"Qm{n:044d}",
                "bafybeidid" + "x" * 49,
                True,
                0,
                1.0,
                None,
                None,
                None,
                1 if ok else None,
                CONTENT if ok else None,
                ok,
                None if ok else "not_found: block absent",
                None if ok else '["content_missing"]',
                "2025-03-01 10:00:00",
                synced_at,
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url", nargs="?")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--size", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = CentralDB.connect(url)
        try:
            batches = [
                batch(b, args.size, "2026-12-03T10:00:00+00:00") for b in range(args.batches)
            ]
            for label in ("insert", "re-upsert"):
                start = time.perf_counter()
                for b in batches:
                    db.write_batch(b, machine_name="vm-bench", db_path="/x", checkpoint=None)
                secs = time.perf_counter() - start
                n = args.batches * args.size
                rate = n / secs
                print(
                    f"{db.kind:10s} {label:9s} {n:7d} records {secs:6.2f}s {rate:9,.0f} records/s"
                )
            # Leave nothing behind in a shared server database.
            if db.kind != "sqlite":
                with db.engine.begin() as conn:
                    conn.execute(
                        db.schema.tokens.delete().where(
                            db.schema.tokens.c.machine_name == "vm-bench"
                        )
                    )
        finally:
            db.close()


if __name__ == "__main__":
    main()
