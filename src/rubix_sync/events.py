"""The event stream the pipeline emits; logs, JSON events, metrics, progress and notifications
listen to it. None of them is called from inside the fetch or write code.

Each event is a frozen dataclass with a ``kind`` (its JSON ``event`` name). ``EventBus.emit``
calls every listener in order on the emitting (main) thread; a listener that raises is logged and
never breaks the sync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .models import Counters

log = logging.getLogger("rubix_sync.events")


@dataclass(frozen=True, slots=True)
class Event:
    ts: float = field(default_factory=time.time, kw_only=True)
    kind = "event"

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["event"] = self.kind
        return d


@dataclass(frozen=True, slots=True)
class SessionStarted(Event):
    kind = "session_started"
    session_id: str
    machine_name: str
    public_ip: str | None
    total_databases: int
    roots: tuple[str, ...]
    database_kind: str  # "sqlite", "postgresql", "mssql"
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class FetcherChosen(Event):
    kind = "fetcher_chosen"
    node: str
    fetcher: str  # "blockstore", "rpc", "cli" or "none"
    reason: str


@dataclass(frozen=True, slots=True)
class DatabaseStarted(Event):
    kind = "database_started"
    node: str
    db_path: str
    correlation_id: str
    estimated_tokens: int
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class DatabaseSkipped(Event):
    kind = "database_skipped"
    node: str
    db_path: str
    reason: str
    retried_fetches: int = 0


@dataclass(frozen=True, slots=True)
class BatchWritten(Event):
    kind = "batch_written"
    node: str
    db_path: str
    correlation_id: str
    records: int
    ipfs_success: int
    ipfs_failed: int
    validation_failed: int
    fetch_seconds: float
    write_seconds: float
    fetcher: str


@dataclass(frozen=True, slots=True)
class FetchFailed(Event):
    kind = "fetch_failed"
    node: str
    token_id: str
    token_type: str
    reason: str  # one of models.FETCH_KINDS
    detail: str
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class ValidationFailed(Event):
    kind = "validation_failed"
    node: str
    token_id: str
    token_type: str
    errors: tuple[str, ...]
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class DatabaseFinished(Event):
    kind = "database_finished"
    node: str
    db_path: str
    correlation_id: str
    status: str  # "COMPLETED" or "FAILED"
    records: int
    ipfs_success: int
    ipfs_failed: int
    validation_failed: int
    duration_seconds: float
    size_bytes: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorOccurred(Event):
    """An error worth an operator's attention (database failed, SQL error, ...).

    ``error_type`` is one of: timeout, ipfs, validation, database, connection, other.
    """

    kind = "error"
    error_type: str
    message: str
    context: dict[str, str] = field(default_factory=dict)
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class Progress(Event):
    kind = "progress"
    counters: Counters
    elapsed_seconds: float
    rate: float  # records/s since the session started
    percent: float  # databases done / total, 0..100


@dataclass(frozen=True, slots=True)
class SessionFinished(Event):
    kind = "session_finished"
    session_id: str
    status: str  # COMPLETED, FAILED, INTERRUPTED
    counters: Counters
    duration_seconds: float
    failures: tuple[str, ...] = ()  # one line per failed database / reason


Listener = Callable[[Event], None]


class EventBus:
    """Fan one event out to every listener, in subscription order, thread-safely."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a listener must never break the sync
                log.exception("event listener %r failed on %s", listener, event.kind)
