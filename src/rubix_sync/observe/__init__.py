"""Observation: the guide's log files, correlation IDs and the JSON event stream.

The library only logs to named loggers (``rubix_sync.ipfs``, ``rubix_sync.sql``,
``rubix_sync.validation``, ``rubix_sync.sync``; anything else under ``rubix_sync`` is MAIN); the
application installs the files with :func:`setup_logging` and subscribes a :class:`LogListener`
to the pipeline's event bus::

    handle = setup_logging(Path("logs"))
    bus.subscribe(LogListener(machine_name))
    ...
    handle.close()

Files (dated by the UTC day each line is written, rotated by size)::

    sync_main_YYYYMMDD.log        INFO+ of every component        100 MB x 10
    sync_debug_YYYYMMDD.log       DEBUG+                           200 MB x 5
    sync_errors_YYYYMMDD.log      ERROR+                            50 MB x 50
    sync_{ipfs,sql,validation,sync}_YYYYMMDD.log  INFO+ per component  50 MB x 10
    sync_events_YYYYMMDD.jsonl    one JSON object per event        200 MB x 20

Line format: ``YYYY-MM-DD HH:MM:SS - LEVEL - COMPONENT:OPERATION [CORRELATION_ID] - MESSAGE``
(UTC), plus a ``Stack Trace:`` block for exceptions; every line goes through
:func:`rubix_sync.errors.redact`. Worker processes hand their records to the main process with
:func:`worker_log_queue_handler` / :func:`start_queue_listener`.
"""

from ._context import (
    COMPONENT_PREFIXES,
    COMPONENTS,
    NO_CORRELATION,
    Operation,
    OperationContext,
    component_for_logger,
    current_correlation_id,
    current_operation,
    new_correlation_id,
)
from ._format import LINE_RE, JsonLineFormatter, LineFormatter, scrub
from ._handler import DailySizeRotatingFileHandler
from ._listener import (
    IPFS_LOGGER,
    MAIN_LOGGER,
    SQL_LOGGER,
    SYNC_LOGGER,
    VALIDATION_LOGGER,
    LogListener,
    session_correlation_id,
)
from ._queue import start_queue_listener, worker_log_queue_handler
from ._setup import (
    JSONL_LOGGER,
    ROOT_LOGGER,
    FileLimits,
    LoggingHandle,
    RotationConfig,
    setup_logging,
)

__all__ = [
    "COMPONENTS",
    "COMPONENT_PREFIXES",
    "IPFS_LOGGER",
    "JSONL_LOGGER",
    "LINE_RE",
    "MAIN_LOGGER",
    "NO_CORRELATION",
    "ROOT_LOGGER",
    "SQL_LOGGER",
    "SYNC_LOGGER",
    "VALIDATION_LOGGER",
    "DailySizeRotatingFileHandler",
    "FileLimits",
    "JsonLineFormatter",
    "LineFormatter",
    "LogListener",
    "LoggingHandle",
    "Operation",
    "OperationContext",
    "RotationConfig",
    "component_for_logger",
    "current_correlation_id",
    "current_operation",
    "new_correlation_id",
    "scrub",
    "session_correlation_id",
    "setup_logging",
    "start_queue_listener",
    "worker_log_queue_handler",
]
