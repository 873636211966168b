"""Line format, Stack Trace blocks, redaction, and correlation IDs across threads and tasks."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from pathlib import Path

import pytest

from rubix_sync.errors import SinkError
from rubix_sync.observe import (
    LoggingHandle,
    OperationContext,
    current_correlation_id,
    new_correlation_id,
)

from .helpers import BOT_TOKEN, DB_URL, SECRETS, check_lines, read_all

sql_log = logging.getLogger("rubix_sync.sql")
ipfs_log = logging.getLogger("rubix_sync.ipfs")
main_log = logging.getLogger("rubix_sync.main")


def _today(handle: LoggingHandle, name: str) -> str:
    return handle.paths()[name].read_text(encoding="utf-8")


def test_new_correlation_id_is_8_hex_chars_and_unique() -> None:
    ids = {new_correlation_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids)


def test_every_line_matches_the_format_and_errors_carry_a_stack_trace(
    handle: LoggingHandle,
) -> None:
    with OperationContext("BULK_INSERT_2000_RECORDS", "SQL", sql_log) as op:
        sql_log.info("Bulk insert completed successfully: %d records", 2000)
        try:
            raise TimeoutError("subprocess.TimeoutExpired after 30s")
        except TimeoutError:
            ipfs_log.exception("IPFS timeout for token %s", "QmXYZ123")
    main_log.info("multi\nline\r\nmessage")
    text = _today(handle, "debug")
    lines = check_lines(text)
    by_msg = {m["message"]: m for m in lines}
    done = by_msg["Bulk insert completed successfully: 2000 records"]
    assert (done["level"], done["component"], done["operation"], done["cid"]) == (
        "INFO",
        "SQL",
        "BULK_INSERT_2000_RECORDS",
        op.correlation_id,
    )
    timeout = by_msg["IPFS timeout for token QmXYZ123"]
    assert (timeout["level"], timeout["component"], timeout["cid"]) == (
        "ERROR",
        "IPFS",
        op.correlation_id,
    )
    after = text.split("IPFS timeout for token QmXYZ123\n", 1)[1].splitlines()
    assert after[0] == "Stack Trace: Traceback (most recent call last):"
    assert "TimeoutError: subprocess.TimeoutExpired after 30s" in after
    assert by_msg["multi\\nline\\r\\nmessage"]["operation"] == "GENERAL"
    assert by_msg["multi\\nline\\r\\nmessage"]["cid"] == "--------"
    # start/end at DEBUG with duration, in the debug file only
    assert "Started BULK_INSERT_2000_RECORDS (parent --------)" in text
    assert re.search(r"Completed BULK_INSERT_2000_RECORDS in \d+\.\d{3}s", text)
    assert "Started BULK_INSERT" not in _today(handle, "main")
    errors = _today(handle, "errors")
    assert "IPFS timeout for token QmXYZ123\nStack Trace: Traceback" in errors
    check_lines(errors)


def _raise_with_secrets() -> None:
    try:
        raise ConnectionError(f"could not connect to {DB_URL} (bot {BOT_TOKEN})")
    except ConnectionError as exc:
        raise SinkError(f"central database unreachable: {exc}") from exc


def test_no_secret_reaches_any_file(handle: LoggingHandle) -> None:
    try:
        _raise_with_secrets()
    except SinkError:
        sql_log.exception("write failed for %s", DB_URL)
    try:
        raise RuntimeError(f"telegram https://api.telegram.example/bot{BOT_TOKEN}/sendMessage")
    except RuntimeError:
        main_log.error("notify failed", exc_info=True)
    main_log.warning("odbc Driver=x;Server=y;PWD=ExamplePw0rd;", stack_info=True)
    with pytest.raises(ValueError), OperationContext("CONNECT", "SQL", sql_log):
        raise ValueError(f"bad url {DB_URL}")
    files = read_all(handle.logs_dir)
    text = "".join(files.values())
    assert "could not connect to postgresql://sync:***@db.internal:5432/rubix" in text
    assert "Failed CONNECT after" in text
    for secret in SECRETS:
        assert secret not in text
    # the traceback (source lines included) was written, only masked
    assert 'raise ConnectionError(f"could not connect to {DB_URL}' in text
    assert "The above exception was the direct cause" in text


def test_nested_contexts_record_the_parent(handle: LoggingHandle) -> None:
    with OperationContext("DATABASE", "SYNC", logging.getLogger("rubix_sync.sync")) as outer:
        with OperationContext("BULK_INSERT", "SQL", sql_log) as inner:
            assert inner.parent_id == outer.correlation_id
            assert current_correlation_id() == inner.correlation_id
            main_log.info("inside inner")
        assert current_correlation_id() == outer.correlation_id
        main_log.info("inside outer")
    assert current_correlation_id() is None
    assert outer.parent_id is None
    lines = {m["message"]: m for m in check_lines(_today(handle, "debug"))}
    assert lines["inside inner"]["cid"] == inner.correlation_id
    assert lines["inside inner"]["component"] == "SQL"  # MAIN logger inside a SQL operation
    assert lines["inside outer"]["cid"] == outer.correlation_id
    assert lines[f"Started BULK_INSERT (parent {outer.correlation_id})"]["cid"] == (
        inner.correlation_id
    )


def test_explicit_correlation_wins(handle: LoggingHandle) -> None:
    with OperationContext("OUTER", "SYNC"):
        ipfs_log.info("explicit", extra={"correlation_id": "abcd1234", "operation": "fetch"})
        main_log.info("as sql", extra={"component": "SQL"})
        with OperationContext("bulk insert 2000", "sql"):
            main_log.info("spaced name")
    lines = {m["message"]: m for m in check_lines(_today(handle, "debug"))}
    assert (lines["explicit"]["component"], lines["explicit"]["operation"]) == ("IPFS", "FETCH")
    assert lines["explicit"]["cid"] == "abcd1234"
    assert lines["as sql"]["component"] == "SQL"
    assert (lines["spaced name"]["component"], lines["spaced name"]["operation"]) == (
        "SQL",
        "BULK_INSERT_2000",
    )
    assert "as sql" in _today(handle, "sql")


def test_contexts_are_per_thread(handle: LoggingHandle) -> None:
    barrier = threading.Barrier(4)
    seen: dict[int, tuple[str, str | None, str | None]] = {}

    def work(i: int) -> None:
        with (
            OperationContext(f"WORKER_{i}", "IPFS", ipfs_log) as outer,
            OperationContext(f"CHILD_{i}", "IPFS", ipfs_log) as child,
        ):
            barrier.wait(timeout=10)  # all four threads inside their contexts at once
            ipfs_log.info("thread %d working", i)
            barrier.wait(timeout=10)
            seen[i] = (child.correlation_id, child.parent_id, outer.correlation_id)

    with OperationContext("MAIN_THREAD", "SYNC"):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert len(seen) == 4
    lines = {m["message"]: m for m in check_lines(_today(handle, "ipfs"))}
    for i, (child_id, parent_id, outer_id) in seen.items():
        assert parent_id == outer_id  # not the main thread's operation
        line = lines[f"thread {i} working"]
        assert (line["operation"], line["cid"]) == (f"CHILD_{i}", child_id)
    assert len({s[0] for s in seen.values()}) == 4


def test_contexts_are_per_asyncio_task(handle: LoggingHandle) -> None:
    async def task(i: int, gate: asyncio.Event) -> tuple[str, str | None]:
        with OperationContext(f"TASK_{i}", "IPFS", ipfs_log) as op:
            await gate.wait()  # interleave all tasks inside their contexts
            await asyncio.sleep(0)
            ipfs_log.info("task %d", i)
            return op.correlation_id, op.parent_id

    async def run() -> tuple[str, list[tuple[str, str | None]]]:
        gate = asyncio.Event()
        with OperationContext("SESSION", "SYNC") as session:
            tasks = [asyncio.create_task(task(i, gate)) for i in range(5)]
            await asyncio.sleep(0)
            gate.set()
            return session.correlation_id, list(await asyncio.gather(*tasks))

    session_id, results = asyncio.run(run())
    lines = {m["message"]: m for m in check_lines(_today(handle, "ipfs"))}
    for i, (cid, parent) in enumerate(results):
        assert parent == session_id
        assert lines[f"task {i}"]["cid"] == cid
    assert len({cid for cid, _ in results}) == 5


def test_log_files_of_one_setup_are_written_by_path(handle: LoggingHandle, logs_dir: Path) -> None:
    paths = handle.paths()
    assert set(paths) == {"main", "debug", "errors", "ipfs", "sql", "validation", "sync", "events"}
    assert all(p.parent == logs_dir for p in paths.values())
