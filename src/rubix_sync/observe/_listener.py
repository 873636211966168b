""":class:`LogListener`: turn pipeline events into the guide's log lines and the JSON stream.

Human lines (one per event, never one per successful token):

=================  =========  ===========  =====================================================
event              logger     level        message starts with
=================  =========  ===========  =====================================================
SessionStarted     sync       INFO         ``Session <id> started on <machine>``
FetcherChosen      ipfs       INFO         ``Fetcher for <node>: <fetcher>``
DatabaseStarted    sync       INFO         ``Database <node> started``
DatabaseSkipped    sync       WARNING      ``Database <node> skipped: <reason>``
BatchWritten       ipfs       INFO         ``IPFS SUCCESS: <ok> of <records> tokens fetched ...``
                   sql        INFO         ``Database SUCCESS: bulk upsert of <n> records ...``
                   validation INFO         ``Validation: <passed> of <n> records passed ...``
FetchFailed        ipfs       WARN/ERR     ``IPFS FAILED: token <id> ... <reason>: <detail>``
ValidationFailed   validation WARNING      ``Validation FAILED: token <id> ...``
DatabaseFinished   sync       INFO/ERROR   ``Database <node> COMPLETED|FAILED: ...``
ErrorOccurred      by type    ERROR        ``ERROR <type>: <message>``
Progress           main       INFO         ``Progress: <percent>% ...``
SessionFinished    sync       INFO/WARN/E  ``Session <id> <status> ...``
=================  =========  ===========  =====================================================

JSON lines (``sync_events_YYYYMMDD.jsonl``): one object per event. The first keys are always, in
this order, ``event``, then ``reason`` for ``fetch_failed`` only, then ``ts`` (Unix seconds,
float), ``machine_name``, ``session_id``; then the event's own fields (``counters`` as an
object, tuples as lists); then ``parent_id`` when the event's correlation ID has a known parent
(the database's ID, the enclosing :class:`OperationContext`, or the session's ID). The analyzer
relies on that key order for its fast path (and falls back to full parsing otherwise).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from ..events import (
    BatchWritten,
    DatabaseFinished,
    DatabaseSkipped,
    DatabaseStarted,
    ErrorOccurred,
    Event,
    FetcherChosen,
    FetchFailed,
    Progress,
    SessionFinished,
    SessionStarted,
    ValidationFailed,
)
from ..models import FETCH_TIMEOUT, Counters
from ._context import NO_CORRELATION, current_operation
from ._setup import JSONL_LOGGER

IPFS_LOGGER = "rubix_sync.ipfs"
SQL_LOGGER = "rubix_sync.sql"
VALIDATION_LOGGER = "rubix_sync.validation"
SYNC_LOGGER = "rubix_sync.sync"
MAIN_LOGGER = "rubix_sync.main"

_ERROR_LOGGER = {
    "ipfs": IPFS_LOGGER,
    "database": SQL_LOGGER,
    "connection": SQL_LOGGER,
    "validation": VALIDATION_LOGGER,
}

_fields_cache: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _fields_cache.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "ts")
        _fields_cache[cls] = names
    return names


def _jsonable(value: Any) -> Any:
    if isinstance(value, Counters):
        return value.as_dict()
    if isinstance(value, tuple):
        return list(value)
    return value


def _log(
    logger: logging.Logger, level: int, extra: dict[str, str], msg: str, *args: object
) -> None:
    """``logger.log`` without the caller lookup (the caller is always this listener)."""
    if logger.isEnabledFor(level):
        logger.handle(
            logger.makeRecord(logger.name, level, __file__, 0, msg, args, None, None, extra)
        )


def session_correlation_id(session_id: str) -> str:
    """The 8-character ID used on a session's lines: the session ID's first 8 characters."""
    return (session_id or NO_CORRELATION)[:8].ljust(8, "-")


class LogListener:
    """An :class:`~rubix_sync.events.EventBus` listener writing log lines and JSON events."""

    def __init__(self, machine_name: str, *, session_id: str | None = None) -> None:
        self.machine_name = machine_name
        self.session_id = session_id
        self._session_cid = session_correlation_id(session_id) if session_id else None
        self._db_cid: dict[str, str] = {}
        self._ipfs = logging.getLogger(IPFS_LOGGER)
        self._sql = logging.getLogger(SQL_LOGGER)
        self._validation = logging.getLogger(VALIDATION_LOGGER)
        self._sync = logging.getLogger(SYNC_LOGGER)
        self._main = logging.getLogger(MAIN_LOGGER)
        self._json = logging.getLogger(JSONL_LOGGER)
        self._dispatch: dict[type, Callable[[Any], str | None]] = {
            SessionStarted: self._session_started,
            FetcherChosen: self._fetcher_chosen,
            DatabaseStarted: self._database_started,
            DatabaseSkipped: self._database_skipped,
            BatchWritten: self._batch_written,
            FetchFailed: self._fetch_failed,
            ValidationFailed: self._validation_failed,
            DatabaseFinished: self._database_finished,
            ErrorOccurred: self._error,
            Progress: self._progress,
            SessionFinished: self._session_finished,
        }

    # -- entry point -----------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        handler = self._dispatch.get(type(event))
        parent = handler(event) if handler is not None else None
        if self._json.handlers:
            self._write_json(event, parent)

    def _write_json(self, event: Event, parent: str | None) -> None:
        d: dict[str, Any] = {"event": event.kind}
        if isinstance(event, FetchFailed):
            d["reason"] = event.reason
        d["ts"] = round(event.ts, 6)
        d["machine_name"] = self.machine_name
        d["session_id"] = self.session_id
        for name in _field_names(type(event)):
            d[name] = _jsonable(getattr(event, name))
        if parent:
            d["parent_id"] = parent
        line = json.dumps(d, separators=(",", ":"), default=str, ensure_ascii=False)
        self._json.handle(
            self._json.makeRecord(JSONL_LOGGER, logging.INFO, __file__, 0, line, (), None)
        )

    def _parent_of(self, cid: str, node: str | None) -> str | None:
        """The known parent of correlation ID ``cid`` (database, operation, session)."""
        if node is not None:
            db = self._db_cid.get(node)
            if db and db != cid:
                return db
        op = current_operation()
        if op is not None:
            if op.correlation_id != cid:
                return op.correlation_id
            if op.parent_id:
                return op.parent_id
        if self._session_cid and self._session_cid != cid:
            return self._session_cid
        return None

    @staticmethod
    def _extra(operation: str, cid: str) -> dict[str, str]:
        return {"operation": operation, "correlation_id": cid or NO_CORRELATION}

    # -- one method per event --------------------------------------------------------------
    def _session_started(self, e: SessionStarted) -> str | None:
        self.session_id = e.session_id
        self.machine_name = e.machine_name or self.machine_name
        self._session_cid = session_correlation_id(e.session_id)
        self._db_cid.clear()
        _log(
            self._sync,
            logging.INFO,
            self._extra("SESSION", self._session_cid),
            "Session %s started on %s (%s): %d databases under %s, destination %s%s",
            e.session_id,
            e.machine_name,
            e.public_ip or "no public IP",
            e.total_databases,
            ", ".join(e.roots) or "-",
            e.database_kind,
            ", dry run" if e.dry_run else "",
        )
        return None

    def _fetcher_chosen(self, e: FetcherChosen) -> str | None:
        _log(
            self._ipfs,
            logging.INFO,
            self._extra("SELECT_FETCHER", self._session_cid or NO_CORRELATION),
            "Fetcher for %s: %s (%s)",
            e.node,
            e.fetcher,
            e.reason,
        )
        return None

    def _database_started(self, e: DatabaseStarted) -> str | None:
        parent = self._parent_of(e.correlation_id, None)
        self._db_cid[e.node] = e.correlation_id
        _log(
            self._sync,
            logging.INFO,
            self._extra("DATABASE", e.correlation_id),
            "Database %s started: %s (about %d tokens)%s, parent %s",
            e.node,
            e.db_path,
            e.estimated_tokens,
            ", resumed from checkpoint" if e.resumed else "",
            parent or NO_CORRELATION,
        )
        return parent

    def _database_skipped(self, e: DatabaseSkipped) -> str | None:
        _log(
            self._sync,
            logging.WARNING,
            self._extra("DATABASE", self._db_cid.get(e.node, NO_CORRELATION)),
            "Database %s skipped: %s (%s)%s",
            e.node,
            e.reason,
            e.db_path,
            f", after {e.retried_fetches} retried fetches" if e.retried_fetches else "",
        )
        return None

    def _batch_written(self, e: BatchWritten) -> str | None:
        extra = self._extra("FETCH", e.correlation_id)
        _log(
            self._ipfs,
            logging.INFO,
            extra,
            "IPFS SUCCESS: %d of %d tokens fetched and verified (%s, %s), %d failed, in %.3fs",
            e.ipfs_success,
            e.records,
            e.node,
            e.fetcher,
            e.ipfs_failed,
            e.fetch_seconds,
        )
        _log(
            self._sql,
            logging.INFO,
            self._extra("BULK_INSERT", e.correlation_id),
            "Database SUCCESS: bulk upsert of %d records (%s) in %.3fs",
            e.records,
            e.node,
            e.write_seconds,
        )
        _log(
            self._validation,
            logging.INFO,
            self._extra("VALIDATE", e.correlation_id),
            "Validation: %d of %d records passed, %d failed (%s)",
            e.records - e.validation_failed,
            e.records,
            e.validation_failed,
            e.node,
        )
        return self._parent_of(e.correlation_id, e.node)

    def _fetch_failed(self, e: FetchFailed) -> str | None:
        # A timeout is an ERROR (the guide's "timeout" recipe greps the errors file); a block
        # that is missing or tampered is a WARNING about that token.
        _log(
            self._ipfs,
            logging.ERROR if e.reason == FETCH_TIMEOUT else logging.WARNING,
            self._extra("FETCH", e.correlation_id),
            "IPFS FAILED: token %s (%s, %s) %s: %s",
            e.token_id,
            e.token_type,
            e.node,
            e.reason,
            e.detail,
        )
        return self._parent_of(e.correlation_id, e.node) if e.correlation_id else None

    def _validation_failed(self, e: ValidationFailed) -> str | None:
        _log(
            self._validation,
            logging.WARNING,
            self._extra("VALIDATE", e.correlation_id),
            "Validation FAILED: token %s (%s, %s): %s",
            e.token_id,
            e.token_type,
            e.node,
            ", ".join(e.errors),
        )
        return self._parent_of(e.correlation_id, e.node) if e.correlation_id else None

    def _database_finished(self, e: DatabaseFinished) -> str | None:
        attempted = e.ipfs_success + e.ipfs_failed
        ipfs_rate = 100.0 * e.ipfs_success / attempted if attempted else 0.0
        level = logging.INFO if e.status == "COMPLETED" else logging.ERROR
        _log(
            self._sync,
            level,
            self._extra("DATABASE", e.correlation_id),
            "Database %s %s: %d records, IPFS %d ok / %d failed (%.1f%%), "
            "%d validation failures, %.1fs, %d bytes%s",
            e.node,
            e.status,
            e.records,
            e.ipfs_success,
            e.ipfs_failed,
            ipfs_rate,
            e.validation_failed,
            e.duration_seconds,
            e.size_bytes,
            f", error: {e.error}" if e.error else "",
        )
        parent = self._parent_of(e.correlation_id, None)
        if self._db_cid.get(e.node) == e.correlation_id:
            del self._db_cid[e.node]
        return parent

    def _error(self, e: ErrorOccurred) -> str | None:
        logger = logging.getLogger(_ERROR_LOGGER.get(e.error_type, SYNC_LOGGER))
        ctx = ", ".join(f"{k}={v}" for k, v in e.context.items())
        cid = e.correlation_id or self._session_cid or NO_CORRELATION
        _log(
            logger,
            logging.ERROR,
            self._extra("ERROR", cid),
            "ERROR %s: %s%s",
            e.error_type,
            e.message,
            f" ({ctx})" if ctx else "",
        )
        node = e.context.get("node")
        return self._parent_of(e.correlation_id, node) if e.correlation_id else None

    def _progress(self, e: Progress) -> str | None:
        c = e.counters
        _log(
            self._main,
            logging.INFO,
            self._extra("PROGRESS", self._session_cid or NO_CORRELATION),
            "Progress: %.1f%% (%d/%d databases), %d records, %.1f records/sec, "
            "IPFS %d ok / %d failed, validation failed %d, SQL errors %d, errors %d, "
            "elapsed %.1f min",
            e.percent,
            c.databases_done,
            c.total_databases,
            c.records,
            e.rate,
            c.ipfs_success,
            c.ipfs_failed,
            c.validation_failed,
            c.sql_errors,
            c.errors,
            e.elapsed_seconds / 60.0,
        )
        return None

    def _session_finished(self, e: SessionFinished) -> str | None:
        c = e.counters
        level = {"COMPLETED": logging.INFO, "INTERRUPTED": logging.WARNING}.get(
            e.status, logging.ERROR
        )
        cid = session_correlation_id(e.session_id)
        rate = c.records / e.duration_seconds if e.duration_seconds > 0 else 0.0
        _log(
            self._sync,
            level,
            self._extra("SESSION", cid),
            "Session %s %s in %.1f min: %d databases (%d done, %d skipped, %d failed), "
            "%d records, %.1f records/sec, IPFS %d ok / %d failed, validation failed %d, "
            "SQL errors %d, errors %d",
            e.session_id,
            e.status,
            e.duration_seconds / 60.0,
            c.total_databases,
            c.databases_done,
            c.databases_skipped,
            c.databases_failed,
            c.records,
            rate,
            c.ipfs_success,
            c.ipfs_failed,
            c.validation_failed,
            c.sql_errors,
            c.errors,
        )
        for line in e.failures:
            _log(self._sync, logging.WARNING, self._extra("SESSION", cid), "Failure: %s", line)
        return None
