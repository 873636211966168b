"""Hand log records from worker processes to the main process, which alone writes the files.

In a worker (e.g. ``ProcessPoolExecutor(initializer=worker_log_queue_handler, initargs=(q,))``)
:func:`worker_log_queue_handler` replaces every handler on the ``rubix_sync`` logger (a forked
child inherits the parent's file handlers: they are closed in the child) with a queue handler.
In the main process :func:`start_queue_listener` replays each record through the main
process's own ``rubix_sync`` loggers, so the records land in the same files, rotated by one
process only. Records are resolved (component, operation, correlation ID) in the worker, where
the operation context lives, and their exception text travels as text.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from ._context import resolve
from ._setup import JSONL_LOGGER, ROOT_LOGGER, LoggingHandle


class _WorkerQueueHandler(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        resolve(record)
        msg = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record = copy.copy(record)
        record.msg = msg
        record.args = None
        record.exc_info = None
        record.__dict__.pop("_rubix_line", None)
        return record


def worker_log_queue_handler(queue: Any, level: int = logging.DEBUG) -> logging.Handler:
    """Route this (worker) process's ``rubix_sync`` records into ``queue``; return the handler.

    Removes and closes any handler inherited on ``rubix_sync`` and the JSON event logger, so a
    worker never opens or rotates a log file itself.
    """
    root = logging.getLogger(ROOT_LOGGER)
    for name in (ROOT_LOGGER, JSONL_LOGGER):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            logger.removeHandler(h)
            with contextlib.suppress(Exception):  # an inherited handler may be broken
                h.close()
    handler = _WorkerQueueHandler(queue)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler


class _ReplayListener(QueueListener):
    def handle(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if not logger.disabled:
            logger.handle(record)


def start_queue_listener(queue: Any, handle: LoggingHandle | None = None) -> QueueListener:
    """Start a thread that writes workers' records through this process's handlers.

    With ``handle``, the listener is stopped (and the queue drained) by ``handle.close()``
    before the files close; else call ``listener.stop()`` yourself.
    """
    listener = _ReplayListener(queue)
    listener.start()
    if handle is not None:
        handle.add_queue_listener(listener)
    return listener
