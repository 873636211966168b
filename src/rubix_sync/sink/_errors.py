"""Driver errors mapped at the boundary: transient (retry the batch) or terminal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
import tenacity

from ..errors import SinkError, SinkTransientError, redact
from .dialects.base import Dialect

T = TypeVar("T")

log = logging.getLogger("rubix_sync.sink")


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("%s; retrying in %.1fs (attempt %d)", exc, wait, state.attempt_number + 1)


def driver_message(exc: BaseException) -> str:
    """The driver's own first line, without SQLAlchemy's statement and parameters dump."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip() or type(orig).__name__
    return redact(text.splitlines()[0].strip())


def is_transient(exc: BaseException, dialect: Dialect) -> bool:
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if exc.orig is not None and dialect.is_transient(exc.orig):
            return True
        return dialect.operational_is_transient and isinstance(exc, sa.exc.OperationalError)
    # Pool exhausted (sa.exc.TimeoutError) or a connection dropped while being checked out.
    return isinstance(exc, (sa.exc.TimeoutError, sa.exc.DisconnectionError))


def map_error(exc: BaseException, dialect: Dialect, what: str) -> SinkError | SinkTransientError:
    """``SinkTransientError`` for "try again", ``SinkError`` otherwise; raise it ``from exc``."""
    message = f"Central database: {what} failed: {driver_message(exc)}"
    if is_transient(exc, dialect):
        return SinkTransientError(message)
    return SinkError(message)


def run_with_retry(
    fn: Callable[[], T], dialect: Dialect, what: str, *, attempts: int, wait: float
) -> T:
    """Run ``fn``, retrying transient database errors with exponential backoff.

    ``fn`` must be a whole transaction (it takes and returns its own connection), so a retry
    starts clean. After the last attempt the error becomes a terminal :class:`SinkError`.
    """

    def once() -> T:
        try:
            return fn()
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise map_error(exc, dialect, what) from exc

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_exponential(multiplier=wait, max=max(wait, 5.0)),
        retry=tenacity.retry_if_exception_type(SinkTransientError),
        reraise=True,
        before_sleep=_log_retry,
    )
    try:
        return retrying(once)
    except SinkTransientError as exc:
        raise SinkError(f"{exc} (gave up after {attempts} attempts)") from exc
