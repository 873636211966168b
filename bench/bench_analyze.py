"""Benchmark the log analyzer against a floor of reading the same files line by line.

    .venv/bin/python bench/bench_analyze.py            # ~1 GB of event logs (default)
    .venv/bin/python bench/bench_analyze.py --mb 256   # smaller

Generates realistic ``sync_events_YYYYMMDD.jsonl`` files (with size backups, as the logger
rotates them) in a temporary directory: per 1000-token batch ~16 fetch failures (80% timeouts),
~27 validation failures, one ``batch_written``; a progress event every 5 minutes, databases
started/finished every ~50 batches, an occasional error event. Then, each in a fresh child
process (so peak RSS is the analyzer's own), best of ``--repeat`` runs:

- floor:    ``for line in open(path, "rb"): n += 1`` over every file;
- analyzer: ``analyze_logs(dir)`` (the whole report);
- memory:   the analyzer's peak RSS on half of the files and on all of them (flat = streaming).

It also times the writing side: :class:`rubix_sync.observe.LogListener` with the default
``setup_logging`` files, per ``FetchFailed`` event (one WARNING line in main, debug and ipfs +
one JSON line) and per ``BatchWritten`` event (three INFO lines + one JSON line).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = """
import sys, time, resource
from pathlib import Path
files = sorted(Path(sys.argv[1]).glob("sync_events_*"))
t = time.perf_counter(); n = 0
for p in files:
    with open(p, "rb") as f:
        for line in f:
            n += 1
el = time.perf_counter() - t
print(el, n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

ANALYZE = """
import sys, time, resource
from rubix_sync.analyze import analyze_logs
t = time.perf_counter()
r = analyze_logs(sys.argv[1])
el = time.perf_counter() - t
print(el, r.lines, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r.records, r.total_errors,
      r.skipped_lines)
"""

FILE_LIMIT = 200 * 1024 * 1024  # the logger's default rotation size for the event stream


def generate(logs: Path, target_bytes: int, seed: int = 1) -> tuple[int, int]:
    """Write about ``target_bytes`` of event lines; return (bytes, lines)."""
    rnd = random.Random(seed)
    t = 1705305600.0  # 2024-01-15 08:00 UTC
    machine, session = "Production-VM-1", "9f1c2d3e4a5b6c7d"
    head = f'"machine_name":"{machine}","session_id":"{session}"'
    written = lines = 0
    day = None
    out = None
    part_bytes = 0
    parts: list[Path] = []

    def open_day(ts: float) -> None:
        nonlocal out, day, part_bytes, parts
        if out is not None:
            out.close()
            _rotate_names(parts)
        day = time.strftime("%Y%m%d", time.gmtime(ts))
        parts = [logs / f"sync_events_{day}.jsonl"]
        out = open(parts[0], "w", encoding="utf-8")  # noqa: SIM115
        part_bytes = 0

    def emit(s: str) -> None:
        nonlocal written, lines, part_bytes, out
        assert out is not None
        if part_bytes + len(s) + 1 > FILE_LIMIT:  # size rotation: start a new part
            out.close()
            parts.append(parts[0].with_name(parts[0].name + f".part{len(parts)}"))
            out = open(parts[-1], "w", encoding="utf-8")  # noqa: SIM115
            part_bytes = 0
        out.write(s)
        out.write("\n")
        part_bytes += len(s) + 1
        written += len(s) + 1
        lines += 1

    open_day(t)
    emit(
        json.dumps(
            {
                "event": "session_started",
                "ts": t,
                "machine_name": machine,
                "session_id": session,
                "public_ip": "203.0.113.12",
                "total_databases": 5000,
                "roots": ["/datadrive"],
                "database_kind": "mssql",
                "dry_run": False,
            },
            separators=(",", ":"),
        )
    )
    db = 0
    cid = f"{rnd.getrandbits(32):08x}"
    batches_in_db = 0
    last_progress = t
    records = 0
    while written < target_bytes:
        if time.strftime("%Y%m%d", time.gmtime(t)) != day:
            open_day(t)
        if batches_in_db == 0:
            db += 1
            cid = f"{rnd.getrandbits(32):08x}"
            node = f"node{db:04d}"
            emit(
                f'{{"event":"database_started","ts":{t:.6f},{head},"node":"{node}",'
                f'"db_path":"/datadrive/{node}/Rubix/rubix.db","correlation_id":"{cid}",'
                f'"estimated_tokens":50000,"resumed":false,"parent_id":"{session[:8]}"}}'
            )
        node = f"node{db:04d}"
        n_ff = max(0, int(rnd.gauss(16, 5)))
        n_vf = max(0, int(rnd.gauss(27, 6)))
        for _i in range(n_ff):
            t += 0.03
            reason = (
                "timeout"
                if rnd.random() < 0.8
                else rnd.choice(["not_found", "cid_mismatch", "malformed_block"])
            )
            emit(
                f'{{"event":"fetch_failed","reason":"{reason}","ts":{t:.6f},{head},'
                f'"node":"{node}","token_id":"Qm{rnd.getrandbits(176):044x}",'
                f'"token_type":"RBT","detail":"no answer within 30s from 127.0.0.1:5001",'
                f'"correlation_id":"{cid}","parent_id":"{session[:8]}"}}'
            )
        for _i in range(n_vf):
            t += 0.02
            emit(
                f'{{"event":"validation_failed","ts":{t:.6f},{head},"node":"{node}",'
                f'"token_id":"Qm{rnd.getrandbits(176):044x}","token_type":"RBT",'
                f'"errors":["level_mismatch"],"correlation_id":"{cid}",'
                f'"parent_id":"{session[:8]}"}}'
            )
        t += 2.5
        records += 1000
        emit(
            f'{{"event":"batch_written","ts":{t:.6f},{head},"node":"{node}",'
            f'"db_path":"/datadrive/{node}/Rubix/rubix.db","correlation_id":"{cid}",'
            f'"records":1000,"ipfs_success":{1000 - n_ff},"ipfs_failed":{n_ff},'
            f'"validation_failed":{n_vf},"fetch_seconds":2.1,"write_seconds":0.35,'
            f'"fetcher":"blockstore","parent_id":"{session[:8]}"}}'
        )
        if rnd.random() < 0.01:
            emit(
                f'{{"event":"error","ts":{t:.6f},{head},"error_type":"database",'
                f'"message":"Connection timeout to Azure SQL","context":{{"node":"{node}"}},'
                f'"correlation_id":"{cid}","parent_id":"{session[:8]}"}}'
            )
        if t - last_progress >= 300:
            last_progress = t
            emit(
                f'{{"event":"progress","ts":{t:.6f},{head},"counters":{{"records":{records}}},'
                f'"elapsed_seconds":{t - 1705305600.0:.1f},"rate":400.0,"percent":1.0}}'
            )
        batches_in_db += 1
        if batches_in_db >= 50:
            batches_in_db = 0
            emit(
                f'{{"event":"database_finished","ts":{t:.6f},{head},"node":"{node}",'
                f'"db_path":"/datadrive/{node}/Rubix/rubix.db","correlation_id":"{cid}",'
                f'"status":"COMPLETED","records":50000,"ipfs_success":49000,'
                f'"ipfs_failed":1000,"validation_failed":1300,"duration_seconds":130.0,'
                f'"size_bytes":123456,"error":null,"parent_id":"{session[:8]}"}}'
            )
    assert out is not None
    out.close()
    _rotate_names(parts)
    return written, lines


def _rotate_names(parts: list[Path]) -> None:
    """Give the parts of one day the logger's names: newest is the base file, then .1, .2..."""
    if len(parts) <= 1:
        return
    base = parts[0]
    tmp = [p.rename(p.with_name(p.name + ".tmp")) for p in parts]
    for age, p in enumerate(reversed(tmp)):  # newest first
        p.rename(base if age == 0 else base.with_name(f"{base.name}.{age}"))


LISTENER = """
import sys, time
from pathlib import Path
from rubix_sync.events import BatchWritten, FetchFailed
from rubix_sync.observe import LogListener, setup_logging
n = int(sys.argv[2])
handle = setup_logging(Path(sys.argv[1]))
listener = LogListener("Production-VM-1")
ff = [FetchFailed(node="node0001", token_id=f"Qm{i:044d}", token_type="RBT", reason="timeout",
                  detail="no answer within 30s", correlation_id="a1b2c3d4") for i in range(n)]
bw = [BatchWritten(node="node0001", db_path="/datadrive/node0001/Rubix/rubix.db",
                   correlation_id="a1b2c3d4", records=1000, ipfs_success=984, ipfs_failed=16,
                   validation_failed=27, fetch_seconds=2.1, write_seconds=0.35,
                   fetcher="blockstore") for _ in range(n)]
best_ff = best_bw = 1e9
for _ in range(3):
    t = time.perf_counter()
    for e in ff:
        listener(e)
    best_ff = min(best_ff, (time.perf_counter() - t) / n)
    t = time.perf_counter()
    for e in bw:
        listener(e)
    best_bw = min(best_bw, (time.perf_counter() - t) / n)
handle.close()
print(best_ff * 1e6, best_bw * 1e6)
"""


def child(code: str, logs: Path, *extra: str) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", code, str(logs), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    return [float(x) for x in out.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=1024, help="size of the generated logs (MB)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each measurement (best kept)")
    ap.add_argument("--events", type=int, default=20000, help="events for the listener timing")
    ap.add_argument("--dir", type=Path, help="where to generate (default: a temporary dir)")
    args = ap.parse_args()

    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench_analyze_", dir=args.dir))
    try:
        logs = root / "logs"
        logs.mkdir()
        t = time.perf_counter()
        size, n_lines = generate(logs, args.mb * 1024 * 1024)
        files = sorted(logs.iterdir())
        print(
            f"generated {size / 1e6:.0f} MB, {n_lines:,} lines, {len(files)} files "
            f"in {time.perf_counter() - t:.0f}s"
        )
        half = root / "half"
        half.mkdir()
        for p in files[: max(1, len(files) // 2)]:
            os.link(p, half / p.name)
        half_bytes = sum(p.stat().st_size for p in half.iterdir())

        floor = []
        ana = []
        for _ in range(args.repeat):
            floor.append(child(FLOOR, logs))
            ana.append(child(ANALYZE, logs))
        f_best = min(floor, key=lambda r: r[0])
        a_best = min(ana, key=lambda r: r[0])
        a_half = child(ANALYZE, half)
        mb = size / 1e6
        print(
            f"floor (read lines):  {f_best[0]:.2f}s  {mb / f_best[0]:.0f} MB/s  "
            f"({int(f_best[1]):,} lines, peak RSS {f_best[2] / 1024:.0f} MB)"
        )
        print(
            f"analyzer:            {a_best[0]:.2f}s  {mb / a_best[0]:.0f} MB/s  "
            f"({int(a_best[1]):,} lines, {int(a_best[3]):,} records, "
            f"{int(a_best[4]):,} errors, {int(a_best[5])} skipped)"
        )
        print(f"analyzer / floor:    {100 * f_best[0] / a_best[0]:.0f}%  (goal >= 25%)")
        print(
            f"peak RSS analyzer:   {a_half[2] / 1024:.0f} MB on {half_bytes / 1e6:.0f} MB, "
            f"{a_best[2] / 1024:.0f} MB on {mb:.0f} MB"
        )
        lst = child(LISTENER, root / "listener_logs", str(args.events))
        print(
            f"LogListener cost:    {lst[0]:.1f} us per FetchFailed, {lst[1]:.1f} us per "
            f"BatchWritten (best of 3 x {args.events:,} events, default files)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
