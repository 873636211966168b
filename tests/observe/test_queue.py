"""Worker processes hand their records to the main process, which alone writes the files."""

from __future__ import annotations

import multiprocessing
import os
import warnings
from pathlib import Path

import pytest

from rubix_sync.observe import setup_logging, start_queue_listener

from .helpers import SECRETS, check_lines, worker_child


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_child_records_arrive_in_the_main_process_files(logs_dir: Path, method: str) -> None:
    ctx = multiprocessing.get_context(method)
    queue = ctx.Queue()
    results = ctx.Queue()
    handle = setup_logging(logs_dir)  # before the fork: a forked child inherits these handlers
    try:
        proc = ctx.Process(target=worker_child, args=(queue, results, str(logs_dir)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            proc.start()
        start_queue_listener(queue, handle)
        cid, opened, handlers, pid = results.get(timeout=120)
        proc.join(timeout=60)
        assert proc.exitcode == 0
        paths = handle.paths()
    finally:
        handle.close()  # stops the listener after draining the queue
        queue.close()
        results.close()
    assert pid != os.getpid()
    assert opened == []  # the child never had a log file open
    assert handlers == ["_WorkerQueueHandler"]
    ipfs = paths["ipfs"].read_text(encoding="utf-8")
    lines = {m["message"]: m for m in check_lines(ipfs)}
    fetched = lines["worker fetched 42 tokens"]
    assert (fetched["component"], fetched["operation"], fetched["cid"]) == (
        "IPFS",
        "FETCH_BATCH",
        cid,
    )
    assert lines["worker failure"]["level"] == "ERROR"
    assert "worker failure\nStack Trace: Traceback (most recent call last):" in ipfs
    assert "TimeoutError: token QmWorker timed out talking to postgresql://sync:***@" in ipfs
    assert "worker failure" in paths["errors"].read_text(encoding="utf-8")
    debug = paths["debug"].read_text(encoding="utf-8")
    assert "Started FETCH_BATCH (parent --------)" in debug
    for text in (ipfs, debug):
        for secret in SECRETS:
            assert secret not in text
