"""Correlation IDs and :class:`OperationContext`.

The current operation lives in a :class:`contextvars.ContextVar`, so it is per thread and per
asyncio task: a new thread starts with no operation, an asyncio task starts with a copy of its
creator's context. Every log record is *resolved* once to ``(COMPONENT, OPERATION, ID)``:

- ``extra={"component": ..., "operation": ..., "correlation_id": ...}`` on the call wins;
- else the component follows the logger name (:data:`COMPONENT_PREFIXES`), then the current
  operation's component, then ``MAIN``; operation and ID follow the current operation, then
  ``GENERAL`` and ``--------``.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import time
from dataclasses import dataclass
from types import TracebackType

MAIN = "MAIN"
NO_OPERATION = "GENERAL"
NO_CORRELATION = "--------"

COMPONENTS = ("IPFS", "SQL", "VALIDATION", "SYNC")
"""Components with a file of their own (``sync_<component>_YYYYMMDD.log``); others are MAIN."""

COMPONENT_PREFIXES: dict[str, str] = {
    "rubix_sync.ipfs": "IPFS",
    "rubix_sync.sql": "SQL",
    "rubix_sync.sink": "SQL",
    "rubix_sync.validation": "VALIDATION",
    "rubix_sync.validate": "VALIDATION",
    "rubix_sync.sync": "SYNC",
    "rubix_sync.pipeline": "SYNC",
}
"""Logger name prefix -> component. Any other logger is MAIN."""

_component_cache: dict[str, str] = {}


def component_for_logger(name: str) -> str:
    """The component a logger's records belong to (``MAIN`` when no prefix matches)."""
    comp = _component_cache.get(name)
    if comp is None:
        comp = MAIN
        for prefix, value in COMPONENT_PREFIXES.items():
            if name == prefix or name.startswith(prefix + "."):
                comp = value
                break
        _component_cache[name] = comp
    return comp


def new_correlation_id() -> str:
    """A fresh random 8-character lowercase hex correlation ID."""
    return secrets.token_hex(4)


@dataclass(frozen=True, slots=True)
class Operation:
    """The operation a log record was made in."""

    name: str
    component: str
    correlation_id: str
    parent_id: str | None


_CURRENT: contextvars.ContextVar[Operation | None] = contextvars.ContextVar(
    "rubix_sync_operation", default=None
)


def current_operation() -> Operation | None:
    """The innermost :class:`OperationContext` active in this thread or task, if any."""
    return _CURRENT.get()


def current_correlation_id() -> str | None:
    op = _CURRENT.get()
    return op.correlation_id if op else None


class OperationContext:
    """Track one operation: a correlation ID shared by every log line made inside it.

    ``with OperationContext("BULK_INSERT_2000_RECORDS", "SQL", sql_logger) as op:`` gives
    ``op.correlation_id`` (8 characters) and ``op.parent_id`` (the enclosing operation's ID in
    the same thread or task, else ``None``). Start and end (with duration) are logged at DEBUG;
    a failure is logged at ERROR with its stack trace, then re-raised.
    """

    __slots__ = ("_logger", "_start", "_token", "correlation_id", "duration", "op", "parent_id")

    def __init__(
        self,
        name: str,
        component: str,
        logger: logging.Logger | None = None,
        *,
        correlation_id: str | None = None,
    ) -> None:
        parent = _CURRENT.get()
        self.correlation_id = correlation_id or new_correlation_id()
        self.parent_id = parent.correlation_id if parent else None
        self.op = Operation(name.upper(), component.upper(), self.correlation_id, self.parent_id)
        self._logger = logger or logging.getLogger("rubix_sync")
        self._token: contextvars.Token[Operation | None] | None = None
        self._start = 0.0
        self.duration: float | None = None

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def component(self) -> str:
        return self.op.component

    def __enter__(self) -> OperationContext:
        # The parent is the operation active where the context is entered.
        parent = _CURRENT.get()
        if parent is not None and parent.correlation_id != self.correlation_id:
            self.parent_id = parent.correlation_id
            self.op = Operation(
                self.op.name, self.op.component, self.correlation_id, self.parent_id
            )
        self._token = _CURRENT.set(self.op)
        self._start = time.perf_counter()
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug(
                "Started %s (parent %s)", self.op.name, self.parent_id or NO_CORRELATION
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.duration = time.perf_counter() - self._start
        try:
            if exc is None:
                if self._logger.isEnabledFor(logging.DEBUG):
                    self._logger.debug("Completed %s in %.3fs", self.op.name, self.duration)
            else:
                self._logger.error(
                    "Failed %s after %.3fs: %s: %s",
                    self.op.name,
                    self.duration,
                    exc_type.__name__ if exc_type else "Error",
                    exc,
                    exc_info=(exc_type, exc, tb) if exc_type else None,
                )
        finally:
            if self._token is not None:
                _CURRENT.reset(self._token)
                self._token = None


def resolve(record: logging.LogRecord) -> tuple[str, str, str]:
    """``(COMPONENT, OPERATION, CORRELATION_ID)`` of a record, computed once and cached on it."""
    d = record.__dict__
    ctx: tuple[str, str, str] | None = d.get("_rubix_ctx")
    if ctx is not None:
        return ctx
    op = _CURRENT.get()
    comp = d.get("component")
    if not comp:
        comp = component_for_logger(record.name)
        if comp == MAIN and op is not None:
            comp = op.component
    cid = d.get("correlation_id")
    if cid:
        operation = d.get("operation") or NO_OPERATION
    else:
        cid = op.correlation_id if op else NO_CORRELATION
        operation = d.get("operation") or (op.name if op else NO_OPERATION)
    ctx = (str(comp).upper(), str(operation).upper().replace(" ", "_"), str(cid))
    d["_rubix_ctx"] = ctx
    return ctx
