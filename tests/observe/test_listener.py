"""LogListener on a real EventBus: the lines the guide's grep recipes find, and the JSON stream."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from rubix_sync.events import (
    BatchWritten,
    DatabaseFinished,
    DatabaseSkipped,
    DatabaseStarted,
    ErrorOccurred,
    EventBus,
    FetcherChosen,
    FetchFailed,
    Progress,
    SessionFinished,
    SessionStarted,
    ValidationFailed,
)
from rubix_sync.models import Counters
from rubix_sync.observe import LoggingHandle, LogListener

from .helpers import DB_URL, SECRETS, check_lines, read_all

T0 = 1705329000.0  # 2024-01-15 14:30:00 UTC
SID = "5e55107a9b8c4d2e"
DB1, DB2 = "a1b2c3d4", "0f0e0d0c"


def _events() -> list[object]:
    c = Counters(total_databases=3, databases_done=1, records=1000, ipfs_success=998, ipfs_failed=2)
    final = Counters(
        total_databases=3,
        databases_done=1,
        databases_skipped=1,
        databases_failed=1,
        records=1500,
        ipfs_success=1497,
        ipfs_failed=3,
        validation_failed=1,
        sql_errors=1,
        errors=5,
    )
    return [
        SessionStarted(
            ts=T0,
            session_id=SID,
            machine_name="Production-VM-1",
            public_ip="203.0.113.12",
            total_databases=3,
            roots=("/datadrive",),
            database_kind="sqlite",
        ),
        FetcherChosen(ts=T0 + 1, node="node007", fetcher="blockstore", reason="flatfs readable"),
        DatabaseStarted(
            ts=T0 + 1,
            node="node007",
            db_path="/d/node007/Rubix/rubix.db",
            correlation_id=DB1,
            estimated_tokens=1000,
        ),
        FetchFailed(
            ts=T0 + 2,
            node="node007",
            token_id="QmTimeout1",
            token_type="RBT",
            reason="timeout",
            detail="no answer in 30s",
            correlation_id=DB1,
        ),
        FetchFailed(
            ts=T0 + 3,
            node="node007",
            token_id="QmMissing2",
            token_type="NFT",
            reason="not_found",
            detail="block absent",
            correlation_id=DB1,
        ),
        ValidationFailed(
            ts=T0 + 3,
            node="node007",
            token_id="QmBadLevel",
            token_type="RBT",
            errors=("level_mismatch", "bad_number"),
            correlation_id=DB1,
        ),
        BatchWritten(
            ts=T0 + 4,
            node="node007",
            db_path="/d/node007/Rubix/rubix.db",
            correlation_id=DB1,
            records=1000,
            ipfs_success=998,
            ipfs_failed=2,
            validation_failed=1,
            fetch_seconds=2.5,
            write_seconds=0.5,
            fetcher="blockstore",
        ),
        Progress(ts=T0 + 5, counters=c, elapsed_seconds=5.0, rate=200.0, percent=33.3),
        DatabaseFinished(
            ts=T0 + 6,
            node="node007",
            db_path="/d/node007/Rubix/rubix.db",
            correlation_id=DB1,
            status="COMPLETED",
            records=1000,
            ipfs_success=998,
            ipfs_failed=2,
            validation_failed=1,
            duration_seconds=5.0,
            size_bytes=4096,
        ),
        DatabaseSkipped(
            ts=T0 + 7,
            node="node008",
            db_path="/d/node008/Rubix/rubix.db",
            reason="not a SQLite database",
        ),
        DatabaseStarted(
            ts=T0 + 8,
            node="node009",
            db_path="/d/node009/Rubix/rubix.db",
            correlation_id=DB2,
            estimated_tokens=500,
        ),
        BatchWritten(
            ts=T0 + 9,
            node="node009",
            db_path="/d/node009/Rubix/rubix.db",
            correlation_id=DB2,
            records=500,
            ipfs_success=499,
            ipfs_failed=1,
            validation_failed=0,
            fetch_seconds=0.5,
            write_seconds=0.2,
            fetcher="rpc",
        ),
        FetchFailed(
            ts=T0 + 9,
            node="node009",
            token_id="QmSlow3",
            token_type="FT",
            reason="timeout",
            detail="rpc timeout",
            correlation_id=DB2,
        ),
        ErrorOccurred(
            ts=T0 + 10,
            error_type="database",
            message=f"Connection timeout to {DB_URL}",
            context={"node": "node009", "records": "500"},
            correlation_id=DB2,
        ),
        DatabaseFinished(
            ts=T0 + 10,
            node="node009",
            db_path="/d/node009/Rubix/rubix.db",
            correlation_id=DB2,
            status="FAILED",
            records=500,
            ipfs_success=499,
            ipfs_failed=1,
            validation_failed=0,
            duration_seconds=2.0,
            size_bytes=2048,
            error="central database unreachable",
        ),
        SessionFinished(
            ts=T0 + 11,
            session_id=SID,
            status="COMPLETED",
            counters=final,
            duration_seconds=11.0,
            failures=("node009: central database unreachable",),
        ),
    ]


def _run(handle: LoggingHandle) -> dict[str, str]:
    bus = EventBus()
    bus.subscribe(LogListener("Production-VM-1"))
    for e in _events():
        bus.emit(e)  # type: ignore[arg-type]
    return read_all(handle.logs_dir)


def _grep(logs_dir: Path, *args: str) -> list[str]:
    out = subprocess.run(
        ["bash", "-c", "cd " + str(logs_dir.parent) + " && grep " + " ".join(args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert out.returncode in (0, 1), out.stderr
    return out.stdout.splitlines()


def test_every_file_is_well_formed_and_secret_free(handle: LoggingHandle) -> None:
    files = _run(handle)
    for name, text in files.items():
        if name.endswith(".log"):
            check_lines(text)
        for secret in SECRETS:
            assert secret not in text, name
    errors = [n for n in files if n.startswith("sync_errors_")]
    assert len(errors) == 1
    err_lines = check_lines(files[errors[0]])
    assert [(m["component"], m["cid"]) for m in err_lines] == [
        ("IPFS", DB1),  # fetch timeout QmTimeout1
        ("IPFS", DB2),  # fetch timeout QmSlow3
        ("SQL", DB2),  # the ErrorOccurred
        ("SYNC", DB2),  # database FAILED
    ]
    assert "Connection timeout to postgresql://sync:***@db.internal:5432/rubix" in files[errors[0]]


def test_the_guides_grep_recipes_find_what_they_promise(handle: LoggingHandle) -> None:
    _run(handle)
    logs = handle.logs_dir
    progress = _grep(logs, '"Progress:"', "logs/sync_main_*.log")
    assert len(progress) == 1
    assert (
        " - INFO - MAIN:PROGRESS [5e55107a] - Progress: 33.3% (1/3 databases), 1000 records"
        in (progress[0])
    )
    ipfs_ok = _grep(logs, '"IPFS.*SUCCESS"', "logs/sync_ipfs_*.log")
    assert len(ipfs_ok) == 2  # one line per batch, not per token
    assert ipfs_ok[0].endswith(
        f"INFO - IPFS:FETCH [{DB1}] - IPFS SUCCESS: 998 of 1000 tokens fetched and verified "
        "(node007, blockstore), 2 failed, in 2.500s"
    )
    sql_ok = _grep(logs, '"Database.*SUCCESS"', "logs/sync_sql_*.log")
    assert [line.split(" - ", 3)[2:] for line in sql_ok] == [
        [
            f"SQL:BULK_INSERT [{DB1}]",
            "Database SUCCESS: bulk upsert of 1000 records (node007) in 0.500s",
        ],
        [
            f"SQL:BULK_INSERT [{DB2}]",
            "Database SUCCESS: bulk upsert of 500 records (node009) in 0.200s",
        ],
    ]
    errors = _grep(logs, '"ERROR"', "logs/sync_*.log")
    # main, debug, errors and the component file each hold the four ERROR lines
    # (two fetch timeouts, the ErrorOccurred, the failed database)
    assert len([e for e in errors if "sync_errors_" in e]) == 4
    assert len([e for e in errors if "sync_main_" in e]) == 4
    timeouts = _grep(logs, '"timeout"', "logs/sync_ipfs_*.log")
    assert [t.split(" - ", 3)[3] for t in timeouts] == [
        "IPFS FAILED: token QmTimeout1 (RBT, node007) timeout: no answer in 30s",
        "IPFS FAILED: token QmSlow3 (FT, node009) timeout: rpc timeout",
    ]
    assert all(" - ERROR - IPFS:FETCH [" in t for t in timeouts)
    errors_ctx = _grep(logs, "-A 5 -B 5", '"timeout"', "logs/sync_errors_*.log")
    assert any("Connection timeout" in line for line in errors_ctx)
    # the guide's "timeouts with context" recipe finds the fetch timeouts in the errors file
    assert any("IPFS FAILED: token QmTimeout1" in line for line in errors_ctx)
    assert not any("QmMissing2" in line for line in errors_ctx)  # not_found stays a WARNING
    token = _grep(logs, '"QmMissing2"', "logs/sync_ipfs_*.log")
    assert len(token) == 1 and "not_found: block absent" in token[0]
    corr = _grep(logs, '"\\[.*\\]"', "logs/sync_main_*.log")
    assert corr and all("[" in c for c in corr)


def test_component_files_hold_their_events(handle: LoggingHandle) -> None:
    files = _run(handle)

    def messages(prefix: str) -> list[str]:
        name = next(n for n in files if n.startswith(prefix))
        return [m["message"] for m in check_lines(files[name])]

    sync = messages("sync_sync_")
    assert sync[0].startswith(
        f"Session {SID} started on Production-VM-1 (203.0.113.12): 3 databases"
    )
    assert (
        "Database node007 started: /d/node007/Rubix/rubix.db (about 1000 tokens), parent 5e55107a"
        in sync
    )
    assert "Database node008 skipped: not a SQLite database (/d/node008/Rubix/rubix.db)" in sync
    assert any(
        m.startswith("Database node007 COMPLETED: 1000 records, IPFS 998 ok / 2 failed (99.8%)")
        for m in sync
    )
    assert any(m.startswith("Database node009 FAILED: 500 records") for m in sync)
    assert any(
        m.startswith(
            f"Session {SID} COMPLETED in 0.2 min: 3 databases (1 done, 1 skipped, 1 failed), "
            "1500 records"
        )
        for m in sync
    )
    assert "Failure: node009: central database unreachable" in sync
    validation = messages("sync_validation_")
    assert validation == [
        "Validation FAILED: token QmBadLevel (RBT, node007): level_mismatch, bad_number",
        "Validation: 999 of 1000 records passed, 1 failed (node007)",
        "Validation: 500 of 500 records passed, 0 failed (node009)",
    ]
    main = messages("sync_main_")
    assert len(main) == len(messages("sync_debug_"))  # no DEBUG lines from the listener
    assert "Fetcher for node007: blockstore (flatfs readable)" in messages("sync_ipfs_")


def test_json_stream_carries_every_event_with_its_fields(handle: LoggingHandle) -> None:
    files = _run(handle)
    name = next(n for n in files if n.startswith("sync_events_"))
    assert (
        name
        == "sync_events_"
        + next(n for n in files if n.startswith("sync_main_"))
        .removeprefix("sync_main_")
        .removesuffix(".log")
        + ".jsonl"
    )
    lines = files[name].splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["event"] for o in objs] == [e.kind for e in _events()]  # type: ignore[attr-defined]
    for o, e in zip(objs, _events()):
        assert o["ts"] == e.ts  # type: ignore[attr-defined]
        assert o["machine_name"] == "Production-VM-1"
        assert o["session_id"] == SID
        expected = e.as_dict()  # type: ignore[attr-defined]
        for key, value in expected.items():
            if key == "message":
                continue  # redacted below
            got = o[key]
            assert got == (list(value) if isinstance(value, tuple) else value), key
    # key order the analyzer's fast path relies on
    assert lines[3].startswith('{"event":"fetch_failed","reason":"timeout","ts":1705329002.0,')
    assert lines[5].startswith('{"event":"validation_failed","ts":1705329003.0,')
    by_kind = {o["event"]: o for o in objs}
    assert by_kind["session_finished"]["counters"]["records"] == 1500
    assert by_kind["database_started"]["parent_id"] == "5e55107a"  # the session
    assert objs[3]["correlation_id"] == DB1
    assert by_kind["error"]["message"] == (
        "Connection timeout to postgresql://sync:***@db.internal:5432/rubix"
    )
    assert by_kind["error"]["context"] == {"node": "node009", "records": "500"}
    for secret in SECRETS:
        assert secret not in files[name]


def test_listener_without_setup_writes_nothing_and_never_raises(tmp_path: Path) -> None:
    listener = LogListener("vm")
    for e in _events():
        listener(e)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
