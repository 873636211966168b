"""Helpers shared by the observe tests."""

from __future__ import annotations

import re
from pathlib import Path

from rubix_sync.observe import LINE_RE

LINE = re.compile(LINE_RE)
BOT_TOKEN = "123456789:exampleAAHdqTcvCH1vGWJxfSeofSAs0K5PAL"
DB_URL = "postgresql://sync:ExamplePw0rd@db.internal:5432/rubix"
SECRETS = ("ExamplePw0rd", "exampleAAHdqTcvCH1vGWJxfSeofSAs0K5PAL")


def read_all(logs_dir: Path) -> dict[str, str]:
    """File name -> text of every file in the logs directory."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(logs_dir.iterdir())}


def check_lines(text: str) -> list[re.Match[str]]:
    """Every line is a log line or part of a Stack Trace block right after an ERROR line."""
    matches = []
    in_trace = False
    for raw in text.splitlines():
        m = LINE.match(raw)
        if m:
            matches.append(m)
            in_trace = False
            continue
        if raw.startswith("Stack Trace: "):
            assert matches, raw
            in_trace = True
            continue
        assert in_trace, f"line neither a log line nor in a Stack Trace block: {raw!r}"
    return matches


def worker_child(queue: object, results: object, logs_dir: str) -> None:
    """Runs in a child process: log through the queue, report which log files it has open."""
    import logging
    import os

    from rubix_sync.observe import OperationContext, worker_log_queue_handler

    worker_log_queue_handler(queue)
    log = logging.getLogger("rubix_sync.ipfs.worker")
    with OperationContext("FETCH_BATCH", "IPFS", log) as op:
        log.info("worker fetched %d tokens", 42)
        try:
            raise TimeoutError(f"token QmWorker timed out talking to {DB_URL}")
        except TimeoutError:
            log.exception("worker failure")
    opened = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(logs_dir):
            opened.append(target)
    handlers = [type(h).__name__ for h in logging.getLogger("rubix_sync").handlers]
    results.put((op.correlation_id, opened, handlers, os.getpid()))  # type: ignore[attr-defined]
