"""The background sender shared by every channel: a bounded queue, one daemon thread, retries
with backoff, a token-bucket rate limit, and a bounded flush.

A channel supplies ``deliver(text) -> Outcome`` (one attempt); everything about *when* to try
lives here, so a slow or dead service never blocks the caller of :meth:`BackgroundSender.submit`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .base import DeliveryReport

log = logging.getLogger("rubix_sync.notify")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one delivery attempt."""

    ok: bool
    reason: str = ""
    retryable: bool = False
    """5xx or network error: try again after a backoff."""
    retry_after: float | None = None
    """429: the service asked us to wait this long."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt number ``attempt`` (1-based): base, 2*base, 4*base, ..."""
        return float(min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))


class TokenBucket:
    """``per_minute`` messages a minute with bursts of ``burst``; thread-safe.

    :meth:`reserve` takes a token and returns how long to wait before using it; :meth:`pause`
    holds every sender back (after a 429).
    """

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._not_before = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            return max(wait, self._not_before - now)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)


def deliver_with_retries(
    text: str,
    deliver: Callable[[str], Outcome],
    policy: RetryPolicy,
    stop: threading.Event,
    bucket: TokenBucket | None = None,
) -> Outcome:
    """Deliver ``text``: rate limited, 429 ``retry_after`` honoured, 5xx/network retried with
    backoff, other failures final. Returns early (failed) when ``stop`` is set while waiting."""
    attempt = 0
    while True:
        wait = bucket.reserve() if bucket is not None else 0.0
        if wait > 0 and stop.wait(wait):
            return Outcome(False, "not sent: shutting down while rate limited")
        out = deliver(text)
        attempt += 1
        if out.ok or not (out.retryable or out.retry_after is not None):
            return out
        if attempt >= policy.max_attempts:
            return Outcome(False, f"{out.reason} (gave up after {attempt} attempts)")
        if out.retry_after is not None:
            delay = max(out.retry_after, 0.0)
            if bucket is not None:
                bucket.pause(delay)
                delay = 0.0
        else:
            delay = policy.backoff(attempt)
        log.debug(
            "notification attempt %d failed (%s); retrying in %.2fs", attempt, out.reason, delay
        )
        if delay > 0 and stop.wait(delay):
            return Outcome(False, f"{out.reason} (shutting down before retry)")


@dataclass(slots=True)
class _Item:
    text: str
    kind: str


@dataclass(slots=True)
class _State:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


class BackgroundSender:
    """Queue messages and deliver them on one daemon thread, in order."""

    def __init__(
        self,
        channel: str,
        deliver: Callable[[str], Outcome],
        *,
        policy: RetryPolicy,
        flush_timeout: float,
        queue_size: int = 200,
        bucket: TokenBucket | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.channel = channel
        self._deliver = deliver
        self._policy = policy
        self._flush_timeout = flush_timeout
        self._queue: deque[_Item] = deque()
        self._queue_size = queue_size
        self._bucket = bucket
        self._on_exit = on_exit
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._closing = False
        self._state = _State()
        self._thread: threading.Thread | None = None

    # -- producer side -------------------------------------------------------------------
    def submit(self, text: str, kind: str) -> bool:
        """Queue one message; False (and counted as failed) when closed or the queue is full."""
        with self._cond:
            if self._closing:
                self._fail(f"{kind} message sent after close")
                return False
            if len(self._queue) >= self._queue_size:
                self._fail(f"queue full ({self._queue_size}): {kind} message dropped")
                log.warning("%s: notification queue full; dropped a %s message", self.channel, kind)
                return False
            self._queue.append(_Item(text, kind))
            self._state.pending += 1
            self._start()
            self._cond.notify_all()
            return True

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"rubix-sync-notify-{self.channel}", daemon=True
            )
            self._thread.start()

    def _fail(self, reason: str, n: int = 1) -> None:
        self._state.failed += n
        self._state.reasons[reason] += n

    # -- worker side ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait()
                    if not self._queue:
                        return
                    item = self._queue.popleft()
                try:
                    out = deliver_with_retries(
                        item.text, self._deliver, self._policy, self._stop, self._bucket
                    )
                except Exception as exc:  # never let the thread die
                    out = Outcome(False, f"internal error: {type(exc).__name__}")
                    log.error(
                        "%s: sending a %s message failed unexpectedly: %s",
                        self.channel,
                        item.kind,
                        type(exc).__name__,
                    )
                with self._cond:
                    self._state.pending -= 1
                    if out.ok:
                        self._state.sent += 1
                    else:
                        self._fail(out.reason or "failed")
                        log.warning(
                            "%s: %s message not delivered: %s", self.channel, item.kind, out.reason
                        )
                    self._cond.notify_all()
        finally:
            if self._on_exit is not None:
                try:
                    self._on_exit()
                except Exception:  # pragma: no cover - closing a client should not fail
                    log.debug("%s: cleanup failed", self.channel, exc_info=True)

    # -- flush / close -------------------------------------------------------------------
    def report(self) -> DeliveryReport:
        with self._cond:
            s = self._state
            return DeliveryReport(self.channel, s.sent, s.failed, s.pending, Counter(s.reasons))

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Wait until everything queued was delivered or given up, at most ``timeout`` s."""
        timeout = self._flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._cond:
            while self._state.pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        return self.report()

    def close(self, timeout: float | None = None) -> DeliveryReport:
        """Flush (bounded), then stop: what is still queued is counted as not delivered."""
        with self._cond:
            if self._closing:  # closed before: nothing more to wait for or to log
                return self.report()
        self.flush(timeout)
        with self._cond:
            if not self._closing:
                self._closing = True
                dropped = len(self._queue)
                if dropped:
                    self._queue.clear()
                    self._state.pending -= dropped
                    self._fail("not sent before shutdown (flush timeout)", dropped)
                self._cond.notify_all()
            if self._state.pending:
                # a request still in flight: report it by name; the daemon thread ends on its own
                self._state.reasons["still in flight at shutdown"] = self._state.pending
        self._stop.set()
        thread = self._thread
        if thread is None:
            if self._on_exit is not None:
                self._on_exit()
                self._on_exit = None
        else:
            thread.join(0.2)
        report = self.report()
        report.log_undelivered(log)
        return report
