"""End-to-end sync speed against a floor measured in the same run.

For a demo deployment (default 20 nodes x 5,000 tokens, warm page cache) this times, as whole
processes:

* ``rubix-sync run`` into SQLite and into PostgreSQL, with the default logging on;
* the floor: one plain single-process script that reads the same rows from every node database,
  reads and sha256-hashes the same block files, and bulk-inserts the same number of rows into the
  same kind of database (SQLite ``executemany``; PostgreSQL ``COPY``).

It reports records/s, the ratio to the floor, and the peak RSS of the largest process, for two
deployment sizes so memory can be seen not to grow with data.

    .venv/bin/python bench/bench_sync.py                       # 20 x 5000, SQLite + PostgreSQL
    .venv/bin/python bench/bench_sync.py --nodes 5 --tokens 1000 --no-postgres
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

FLOOR = (Path(__file__).parent / "_sync_floor.py").read_text()


def peak_rss_of(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of the largest process of the command, and its stdout."""
    timer = Path("/usr/bin/time")
    if not timer.exists():
        sys.exit("bench_sync needs GNU time for peak memory: apt-get install time")
    t0 = time.perf_counter()
    proc = subprocess.run([str(timer), "-f", "%M", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    peak = int(proc.stderr.strip().splitlines()[-1])
    return wall, peak, proc.stdout


def warm(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            path.read_bytes()


def fresh_pg() -> tuple[str, str]:
    import psycopg

    name = f"rubix_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_size(nodes: int, tokens: int, work: Path, postgres: bool, workers: int) -> list[str]:
    from rubix_sync.demo import make_deployment

    root = work / f"nodes-{nodes}x{tokens}"
    if not root.exists():
        t0 = time.perf_counter()
        info = make_deployment(root, nodes=nodes, tokens_per_node=tokens, seed=1)
        print(
            f"# generated {info.total_tokens:,} tokens in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    total = sum(1 for _ in root.glob("*/Rubix/rubix.db")) * tokens
    warm(root)
    py = sys.executable
    env = {**os.environ, "RUBIX_SYNC_DETECT_PUBLIC_IP": "false"}
    out: list[str] = []
    targets = ["sqlite"] + (["postgresql"] if postgres else [])
    for target in targets:
        pg_names: list[str] = []
        try:
            if target == "sqlite":
                sync_url = f"sqlite:///{work / f'central-{uuid.uuid4().hex[:6]}.db'}"
                floor_url = f"sqlite:///{work / f'floor-{uuid.uuid4().hex[:6]}.db'}"
            else:
                name, sync_url = fresh_pg()
                pg_names.append(name)
                name2, floor_url = fresh_pg()
                pg_names.append(name2)
            floor_s, floor_rss, floor_out = peak_rss_of(
                [py, "-c", FLOOR, str(root), floor_url], env
            )
            assert int(floor_out.strip()) == total, floor_out
            logs = work / f"logs-{uuid.uuid4().hex[:6]}"
            cmd = [
                py,
                "-m",
                "rubix_sync",
                "run",
                "--root",
                str(root),
                "--database",
                sync_url,
                "--logs-dir",
                str(logs),
                "--no-progress",
                "--machine-name",
                "bench",
                "--workers",
                str(workers),
            ]
            sync_s, sync_rss, sync_out = peak_rss_of(cmd, env)
            assert f"Records: {total:,} " in sync_out, sync_out
        finally:
            for name in pg_names:
                drop_pg(name)
        floor_rate, sync_rate = total / floor_s, total / sync_s
        out.append(
            f"| {nodes} x {tokens:,} | {target} | {sync_rate:,.0f} | {floor_rate:,.0f} | "
            f"{sync_rate / floor_rate:.0%} | {sync_s:.1f} / {floor_s:.1f} | "
            f"{sync_rss / 1024:.0f} / {floor_rss / 1024:.0f} |"
        )
        print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=5000, help="tokens per node")
    ap.add_argument(
        "--small",
        type=str,
        default="5x1000",
        help="a second, smaller size NODESxTOKENS for the memory comparison ('' = none)",
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--dir", type=Path, help="work folder (kept); default: a temporary one")
    args = ap.parse_args()
    header = (
        "| nodes x tokens | database | sync records/s | floor records/s | sync / floor | "
        "wall s (sync / floor) | peak RSS MiB (sync / floor) |\n"
        "|---|---|---|---|---|---|---|"
    )
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="rubix-bench-") as tmp:
        work = args.dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        sizes = []
        if args.small:
            n, t = (int(x) for x in args.small.split("x"))
            sizes.append((n, t))
        sizes.append((args.nodes, args.tokens))
        for n, t in sizes:
            bench_size(n, t, work, not args.no_postgres, args.workers)


if __name__ == "__main__":
    main()
