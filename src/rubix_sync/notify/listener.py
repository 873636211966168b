"""Turn pipeline events into the guide's messages, throttled and coalesced.

Subscribe a :class:`NotificationListener` to the :class:`~rubix_sync.events.EventBus`:

- ``SessionStarted`` -> SYNC STARTED (``send_startup``)
- ``Progress`` -> SYNC PROGRESS, at most every ``progress_interval`` s, the first one
  ``progress_interval`` s after the start (``send_progress``)
- ``ErrorOccurred`` / ``FetchFailed`` -> ERROR DETECTED, bursts of one type coalesced
  (``send_errors``; a fetch timeout is type ``timeout``, other fetch failures ``ipfs``)
- ``DatabaseFinished`` (COMPLETED, ``records >= database_completed_min_records``) ->
  DATABASE COMPLETED (``send_database_completed``)
- ``SessionFinished`` -> pending error summaries, SYNC COMPLETED (``send_completion``), then a
  flush bounded by ``flush_timeout`` for all channels together, undelivered messages logged.

Nothing here blocks on the network: notifiers queue and deliver on their own threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..events import (
    DatabaseFinished,
    ErrorOccurred,
    Event,
    FetchFailed,
    Progress,
    SessionFinished,
    SessionStarted,
)
from ..models import FETCH_TIMEOUT
from . import messages
from .base import (
    KIND_COMPLETION,
    KIND_DATABASE,
    KIND_ERROR,
    KIND_PROGRESS,
    KIND_STARTUP,
    DeliveryReport,
    MachineIdentity,
    Notifier,
)
from .coalesce import Burst, ErrorCoalescer
from .config import TelegramConfig

log = logging.getLogger("rubix_sync.notify")


@dataclass(frozen=True, slots=True)
class ErrorItem:
    error_type: str
    message: str
    at: float
    context: Mapping[str, object] = field(default_factory=dict)


def build_notifiers(
    config: TelegramConfig, identity: MachineIdentity | None = None
) -> list[Notifier]:
    """The channels ``config`` enables: Telegram (token + chat) and Apprise (``apprise_urls``)."""
    if not config.enabled:
        return []
    out: list[Notifier] = []
    if config.telegram_enabled:
        from .telegram import TelegramNotifier

        out.append(TelegramNotifier(config, identity=identity))
    if config.apprise_urls:
        from .apprise_channel import AppriseNotifier

        out.append(
            AppriseNotifier(
                config.apprise_urls,
                flush_timeout=config.flush_timeout,
                queue_size=config.queue_size,
            )
        )
    return out


class NotificationListener:
    """An EventBus listener that sends the guide's messages to every notifier."""

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        config: TelegramConfig,
        identity: MachineIdentity | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifiers = list(notifiers)
        self.config = config
        self._given = identity
        self.identity = MachineIdentity.resolve(identity, (config.machine_name, config.public_ip))
        self._clock = clock
        self._coalescer: ErrorCoalescer[ErrorItem] = ErrorCoalescer(
            config.error_coalesce_window, clock
        )
        self._last_progress: float | None = None
        self._finish_deadline: float | None = None  # the end-of-run flush budget, once spent
        self._lock = threading.RLock()
        self._closed = False

    @classmethod
    def from_config(
        cls,
        config: TelegramConfig,
        identity: MachineIdentity | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> NotificationListener | None:
        """A listener with the channels ``config`` enables; None when it enables none."""
        notifiers = build_notifiers(config, identity)
        return cls(notifiers, config, identity, clock=clock) if notifiers else None

    # -- sending -------------------------------------------------------------------------
    def _send(self, text: str, kind: str) -> None:
        for n in self.notifiers:
            try:
                n.send(text, kind=kind)
            except Exception:  # a channel must never break the sync
                log.exception("notifier %r failed to queue a %s message", n, kind)

    def _send_burst(self, burst: Burst[ErrorItem]) -> None:
        e = burst.first
        text = messages.error_message(
            self.identity,
            error_type=e.error_type,
            message=e.message,
            at=e.at,
            context=e.context,
            more=burst.more,
            window_seconds=burst.window,
        )
        self._send(text, KIND_ERROR)

    def notify_error(
        self,
        error_type: str,
        message: str,
        context: Mapping[str, object] | None = None,
        *,
        at: float | None = None,
    ) -> None:
        """Queue an ERROR DETECTED message (coalesced with others of ``error_type``)."""
        if not self.config.send_errors:
            return
        item = ErrorItem(
            error_type, message, time.time() if at is None else at, dict(context or {})
        )
        with self._lock:
            for burst in self._coalescer.offer(error_type, item):
                self._send_burst(burst)

    def tick(self) -> None:
        """Send summaries of error windows that have closed (called on every event)."""
        with self._lock:
            for burst in self._coalescer.due():
                self._send_burst(burst)

    # -- events --------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        with self._lock:
            if self._closed:
                return
            self.tick()
            if isinstance(event, SessionStarted):
                self._on_start(event)
            elif isinstance(event, Progress):
                self._on_progress(event)
            elif isinstance(event, ErrorOccurred):
                self.notify_error(event.error_type, event.message, _context(event), at=event.ts)
            elif isinstance(event, FetchFailed):
                self._on_fetch_failed(event)
            elif isinstance(event, DatabaseFinished):
                self._on_database(event)
            elif isinstance(event, SessionFinished):
                self._on_finish(event)

    def _on_start(self, e: SessionStarted) -> None:
        self.identity = MachineIdentity.resolve(
            self._given,
            (e.machine_name, e.public_ip),
            (self.config.machine_name, self.config.public_ip),
        )
        self._last_progress = self._clock()
        if self.config.send_startup:
            text = messages.startup_message(
                self.identity, started_at=e.ts, database_kind=e.database_kind, dry_run=e.dry_run
            )
            self._send(text, KIND_STARTUP)

    def _on_progress(self, e: Progress) -> None:
        if not self.config.send_progress:
            return
        now = self._clock()
        if (
            self._last_progress is not None
            and now - self._last_progress < self.config.progress_interval
        ):
            return
        self._last_progress = now
        c = e.counters
        text = messages.progress_message(
            self.identity,
            percent=e.percent,
            records=c.records,
            rate=e.rate,
            ipfs_success=c.ipfs_success,
            sql_errors=c.sql_errors,
            elapsed_seconds=e.elapsed_seconds,
        )
        self._send(text, KIND_PROGRESS)

    def _on_fetch_failed(self, e: FetchFailed) -> None:
        error_type = "timeout" if e.reason == FETCH_TIMEOUT else "ipfs"
        message = f"{e.reason}: {e.detail}" if e.detail else e.reason
        context = {"node": e.node, "token_type": e.token_type, "token_id": e.token_id}
        if e.correlation_id:
            context["correlation_id"] = e.correlation_id
        self.notify_error(error_type, message, context, at=e.ts)

    def _on_database(self, e: DatabaseFinished) -> None:
        if (
            self.config.send_database_completed
            and e.status == "COMPLETED"
            and e.records >= self.config.database_completed_min_records
        ):
            text = messages.database_completed_message(
                self.identity,
                name=e.node,
                records=e.records,
                duration_seconds=e.duration_seconds,
                ipfs_success=e.ipfs_success,
                ipfs_failed=e.ipfs_failed,
            )
            self._send(text, KIND_DATABASE)

    def _on_finish(self, e: SessionFinished) -> None:
        for burst in self._coalescer.due(force=True):
            self._send_burst(burst)
        if self.config.send_completion:
            c = e.counters
            text = messages.completion_message(
                self.identity,
                duration_seconds=e.duration_seconds,
                databases=c.databases_done,
                records=c.records,
                ipfs_success=c.ipfs_success,
                ipfs_failed=c.ipfs_failed,
                sql_errors=c.sql_errors,
                # as the log analyzer's "Total Errors": failed fetches, failed validations
                # and error events (the guide shows one number in both places)
                errors=c.ipfs_failed + c.validation_failed + c.errors,
                status=e.status,
                failures=e.failures,
            )
            self._send(text, KIND_COMPLETION)
        self._finish_deadline = time.monotonic() + self.config.flush_timeout
        self.flush()  # what could not be delivered is logged once, by close()

    # -- flush / close -------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> list[DeliveryReport]:
        """Flush every channel within ``timeout`` (default ``flush_timeout``) in total."""
        timeout = self.config.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        return [n.flush(max(0.0, deadline - time.monotonic())) for n in self.notifiers]

    def close(self, timeout: float | None = None) -> list[DeliveryReport]:
        """Send held-back error summaries, flush and stop every channel.

        The wait is bounded by ``timeout`` (default ``flush_timeout``) for all channels together;
        after ``SessionFinished`` only what is left of that run's flush budget is used, so a dead
        service adds at most ``flush_timeout`` to a run.
        """
        with self._lock:
            if not self._closed:
                for burst in self._coalescer.due(force=True):
                    self._send_burst(burst)
            self._closed = True
        if timeout is None:
            timeout = self.config.flush_timeout
            if self._finish_deadline is not None:
                timeout = max(0.0, self._finish_deadline - time.monotonic())
        deadline = time.monotonic() + timeout
        return [n.close(max(0.0, deadline - time.monotonic())) for n in self.notifiers]

    def __enter__(self) -> NotificationListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _context(e: ErrorOccurred) -> dict[str, object]:
    ctx: dict[str, object] = dict(e.context)
    if e.correlation_id and "correlation_id" not in ctx:
        ctx["correlation_id"] = e.correlation_id
    return ctx
