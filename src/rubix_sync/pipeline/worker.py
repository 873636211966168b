"""One database's work, as run inside a worker process: read → fetch → validate → records.

Nothing here writes to the central database or to log files: batches go back to the main
process, which alone writes (and checkpoints) them, and log records travel through a queue.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import time
from collections.abc import Generator, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from ..errors import RubixSyncError, SourceBusyError, redact
from ..ipfs import select_fetcher
from ..ipfs.base import Fetcher
from ..models import RecordTuple, TokenRecord, TokenRow
from ..observe import worker_log_queue_handler
from ..source import open_node_db
from ..validate import validate_token
from .tasks import BatchStats, DatabaseTask

Message = tuple[Any, ...]

log = logging.getLogger("rubix_sync.sync")


def process_task(task: DatabaseTask) -> Generator[Message, None, None]:
    """Yield the messages of one database's work; never raises for a database-level failure."""
    tid = task.task_id
    choice = select_fetcher(
        task.node.ipfs_repo,
        task.fetch.mode,
        rpc_url=task.fetch.rpc_url,
        ipfs_bin=task.fetch.ipfs_bin,
        timeout=task.fetch.timeout,
        concurrency=task.fetch.concurrency,
    )
    try:
        yield ("fetcher", tid, choice.name, choice.reason)
        if task.retry is not None:
            yield ("start", tid, task.retry.expected)
            for rows in _failed_fetches(task):
                records, stats = _build_batch(task, rows, choice.fetcher, choice.name)
                yield ("batch", tid, records, None, stats)
            yield ("done", tid)
            return
        try:
            with open_node_db(task.node) as source:
                yield ("start", tid, source.estimate())
                for rows, checkpoint in source.iter_batches(task.batch_size, after=task.after):
                    records, stats = _build_batch(task, rows, choice.fetcher, choice.name)
                    yield ("batch", tid, records, checkpoint, stats)
        except SourceBusyError as exc:
            yield ("error", tid, "timeout", str(exc))
            return
        except RubixSyncError as exc:
            yield ("error", tid, "database", str(exc))
            return
        except Exception as exc:  # an unexpected bug must not kill the other databases
            log.exception("unexpected error in %s", task.node.name)
            yield ("error", tid, "other", f"{type(exc).__name__}: {redact(exc)}")
            return
        yield ("done", tid)
    finally:
        choice.fetcher.close()


def _failed_fetches(task: DatabaseTask) -> Iterator[list[TokenRow]]:
    """The node's records whose content was not fetched, as rows, one page at a time."""
    from ..sink import CentralDB  # only retry tasks need the central-database stack

    assert task.retry is not None
    db = CentralDB.connect(task.retry.database_url, create=False)
    try:
        for page in db.iter_failed_fetches(
            task.retry.machine_name, task.node.name, task.batch_size
        ):
            yield [_row_of(rec) for rec in page]
    finally:
        db.close()


def _row_of(rec: TokenRecord) -> TokenRow:
    return TokenRow(
        token_type=rec.token_type,
        token_id=rec.token_id,
        did=rec.did,
        owned=rec.owned,
        token_status=rec.token_status,
        token_value=rec.token_value,
        parent_token_id=rec.parent_token_id,
        ft_name=rec.ft_name,
        creator_did=rec.creator_did,
        source_updated_at=rec.source_updated_at,
    )


def _build_batch(
    task: DatabaseTask, rows: Sequence[TokenRow], fetcher: Fetcher, fetcher_name: str
) -> tuple[list[RecordTuple], BatchStats]:
    t0 = time.perf_counter()
    results = fetcher.fetch_many([r.token_id for r in rows])
    stats = BatchStats(fetch_seconds=time.perf_counter() - t0, fetcher=fetcher_name)
    synced_at = datetime.now(timezone.utc).isoformat()
    machine, ip, node = task.record_machine, task.source_ip, task.node
    db_path = str(node.db_path)
    records: list[RecordTuple] = []
    append = records.append
    for row, result in zip(rows, results, strict=True):
        verdict = validate_token(row, result)
        if result.ok:
            stats.ipfs_success += 1
            if verdict.errors:
                stats.validation_failed += 1
                stats.invalid.append((row.token_id, row.token_type, tuple(verdict.errors)))
        else:
            stats.ipfs_failed += 1
            stats.failures.append(
                (row.token_id, row.token_type, result.error or "fetch_error", result.detail or "")
            )
        append(  # a TokenRecord as a tuple in field order: it pickles several times faster
            (
                machine,
                ip,
                node.name,
                db_path,
                row.token_type,
                row.token_id,
                row.did,
                row.owned,
                row.token_status,
                row.token_value,
                row.parent_token_id,
                row.ft_name,
                row.creator_did,
                verdict.token_level,
                verdict.text,
                result.ok,
                result.error_text(),
                json.dumps(verdict.errors) if verdict.errors else None,
                row.source_updated_at,
                synced_at,
            )
        )
    return records, stats


def _die_with_parent() -> None:
    """Ask Linux to end this worker when the main process dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _put(result_queue: Any, message: Message, parent: int) -> None:
    while True:
        try:
            result_queue.put(message, timeout=1.0)
            return
        except queue.Full:
            if os.getppid() != parent:  # the main process is gone: nobody will read this
                os._exit(0)


def worker_main(task_queue: Any, result_queue: Any, log_queue: Any) -> None:
    """Entry point of a worker process: take tasks until ``None``, put messages back."""
    parent = os.getppid()
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    worker_log_queue_handler(log_queue)  # only the main process writes log files
    while True:
        task = task_queue.get()
        if task is None:
            return
        _put(result_queue, ("take", task.task_id, os.getpid()), parent)
        for message in process_task(task):
            _put(result_queue, message, parent)
