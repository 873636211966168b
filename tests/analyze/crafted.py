"""A hand-made event log with hand-counted expectations (see EXPECTED_* below).

Two sessions on two machines, three files (one a size backup), foreign and truncated lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

T15 = 1705305600  # 2024-01-15 08:00:00 UTC
T16 = 1705399200  # 2024-01-16 10:00:00 UTC
S1, S2 = "s1session0000001", "s2session0000002"


def ev(kind: str, ts: float, machine: str, session: str, **fields: Any) -> str:
    """One line in the LogListener's key order."""
    d: dict[str, Any] = {"event": kind}
    if kind == "fetch_failed":
        d["reason"] = fields.pop("reason")
    d.update(ts=ts, machine_name=machine, session_id=session)
    d.update(fields)
    return json.dumps(d, separators=(",", ":"))


def v1(kind: str, ts: float, **fields: Any) -> str:
    return ev(kind, ts, "VM-1", S1, **fields)


def v2(kind: str, ts: float, **fields: Any) -> str:
    return ev(kind, ts, "VM-2", S2, **fields)


def batch(
    node: str, cid: str, records: int, ok: int, failed: int, vfail: int, **kw: Any
) -> dict[str, Any]:
    return dict(
        node=node,
        db_path=f"/d/{node}/Rubix/rubix.db",
        correlation_id=cid,
        records=records,
        ipfs_success=ok,
        ipfs_failed=failed,
        validation_failed=vfail,
        fetch_seconds=kw.get("fetch_seconds", 500.0),
        write_seconds=kw.get("write_seconds", 20.0),
        fetcher="blockstore",
    )


def ff(reason: str, i: int, node: str = "node007", cid: str = "db000001") -> dict[str, Any]:
    return dict(
        reason=reason,
        node=node,
        token_id=f"QmTok{reason}{i:03d}",
        token_type="RBT",
        detail=f"{reason} detail {i}",
        correlation_id=cid,
        parent_id="s1sessio",
    )


def vf(i: int) -> dict[str, Any]:
    return dict(
        node="node007",
        token_id=f"QmBad{i:03d}",
        token_type="RBT",
        errors=["level_mismatch"],
        correlation_id="db000001",
        parent_id="s1sessio",
    )


def write_crafted(logs: Path) -> Path:
    logs.mkdir(parents=True, exist_ok=True)
    t = T15
    backup = [
        v1(
            "session_started",
            t,
            public_ip="203.0.113.10",
            total_databases=3,
            roots=["/datadrive"],
            database_kind="sqlite",
            dry_run=False,
        ),
        v1(
            "database_started",
            t + 1,
            node="node007",
            db_path="/d/node007/Rubix/rubix.db",
            correlation_id="db000001",
            estimated_tokens=2000,
            resumed=False,
            parent_id="s1sessio",
        ),
    ]
    backup += [
        v1("fetch_failed", t + 300 + i, **ff("timeout" if i < 8 else "not_found", i))
        for i in range(10)
    ]
    backup += [v1("validation_failed", t + 360 + i, **vf(i)) for i in range(3)]
    backup.append(v1("batch_written", t + 600, **batch("node007", "db000001", 1000, 990, 10, 3)))

    main = []
    for i in range(5):
        fields = ff("timeout" if i < 4 else "cid_mismatch", 100 + i)
        line = v1("fetch_failed", t + 900 + i, **fields)
        if i % 2:  # another key order: parsed by the general path
            line = json.dumps(json.loads(line), sort_keys=True)
        main.append(line)
    main += [v1("validation_failed", t + 960 + i, **vf(10 + i)) for i in range(2)]
    main.append(v1("batch_written", t + 1200, **batch("node007", "db000001", 1000, 995, 5, 2)))
    main.append("garbage: not JSON at all")
    main.append("[1, 2]")
    main.append(
        v1(
            "database_finished",
            t + 1260,
            node="node007",
            db_path="/d/node007/Rubix/rubix.db",
            correlation_id="db000001",
            status="COMPLETED",
            records=2000,
            ipfs_success=1985,
            ipfs_failed=15,
            validation_failed=5,
            duration_seconds=1259.0,
            size_bytes=4096,
            error=None,
            parent_id="s1sessio",
        )
    )
    main.append(
        v1(
            "database_skipped",
            t + 1800,
            node="node009",
            db_path="/d/node009/Rubix/rubix.db",
            reason="not a SQLite database",
            retried_fetches=0,
        )
    )
    main.append(
        v1(
            "database_started",
            t + 3600,
            node="node008",
            db_path="/d/node008/Rubix/rubix.db",
            correlation_id="db000002",
            estimated_tokens=1500,
            resumed=False,
            parent_id="s1sessio",
        )
    )
    main.append('{"event":"batch_written","ts":"soon"}')
    main.append(
        v1(
            "error",
            t + 3900,
            error_type="database",
            message="Connection timeout to Azure SQL",
            context={"node": "node008", "records": "1000"},
            correlation_id="e0000001",
            parent_id="db000002",
        )
    )
    main.append(
        v1(
            "error",
            t + 3960,
            error_type="connection",
            message="socket reset",
            context={},
            correlation_id="",
        )
    )
    main.append(
        v1(
            "error",
            t + 4020,
            error_type="weird",
            message="something odd",
            context={},
            correlation_id="",
        )
    )
    main.append(
        '{"event":"batch_written","ts":1705309900.0,"records":"many","ipfs_success":1,'
        '"ipfs_failed":0,"validation_failed":0}'
    )
    main.append('{"event":"future_kind","ts":1705309901.0}')
    main.append(v1("batch_written", t + 4200, **batch("node008", "db000002", 500, 500, 0, 0)))
    main.append(
        v1(
            "database_finished",
            t + 4260,
            node="node008",
            db_path="/d/node008/Rubix/rubix.db",
            correlation_id="db000002",
            status="FAILED",
            records=500,
            ipfs_success=500,
            ipfs_failed=0,
            validation_failed=0,
            duration_seconds=660.0,
            size_bytes=2048,
            error="central database unreachable",
            parent_id="s1sessio",
        )
    )
    counters = dict(
        total_databases=3,
        databases_done=1,
        databases_skipped=1,
        databases_failed=1,
        records=2500,
        ipfs_success=2485,
        ipfs_failed=15,
        validation_failed=5,
        sql_errors=1,
        errors=23,
    )
    main.append(
        v1(
            "session_finished",
            t + 4800,
            status="COMPLETED",
            counters=counters,
            duration_seconds=4800.0,
            failures=["node008: central database unreachable"],
        )
    )

    t = T16
    day2 = [
        v2(
            "session_started",
            t,
            public_ip=None,
            total_databases=1,
            roots=["/data"],
            database_kind="postgresql",
            dry_run=False,
        ),
        v2(
            "database_started",
            t + 1,
            node="node001",
            db_path="/d/node001/Rubix/rubix.db",
            correlation_id="db000003",
            estimated_tokens=3600,
            resumed=False,
            parent_id="s2sessio",
        ),
    ]
    day2 += [
        v2("fetch_failed", t + 1200 + i, **ff("not_found", i, "node001", "db000003"))
        for i in range(36)
    ]
    day2.append(
        v2(
            "batch_written",
            t + 1800,
            **batch(
                "node001", "db000003", 3600, 3564, 36, 0, fetch_seconds=1700.0, write_seconds=100.0
            ),
        )
    )
    day2.append(
        v2(
            "progress",
            t + 2400,
            counters=dict(records=3600),
            elapsed_seconds=2400.0,
            rate=1.5,
            percent=0.0,
        )
    )

    (logs / "sync_events_20240115.jsonl.1").write_text("\n".join(backup) + "\n")
    # the last line was cut short by a crash (no newline)
    (logs / "sync_events_20240115.jsonl").write_text(
        "\n".join(main) + '\n{"event":"batch_written","ts":1705310500.0,"machi'
    )
    (logs / "sync_events_20240116.jsonl").write_text("\n".join(day2) + "\n")
    (logs / "sync_main_20240115.log").write_text("human log, not read by the analyzer\n")
    (logs / "notes.txt").write_text("ignored\n")
    return logs
