"""Install the guide's log files on the ``rubix_sync`` logger tree (the application calls this)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from logging.handlers import QueueListener
from pathlib import Path
from types import TracebackType

from ..errors import ConfigError
from ._context import COMPONENTS, resolve
from ._format import JsonLineFormatter, LineFormatter
from ._handler import DailySizeRotatingFileHandler

ROOT_LOGGER = "rubix_sync"
JSONL_LOGGER = "rubix_sync_events"
"""Logger that carries the JSON event lines (outside the ``rubix_sync`` tree on purpose)."""

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileLimits:
    max_bytes: int
    """Rotate when a file would grow past this many bytes (0: never by size)."""
    backups: int
    """Rotated copies kept per day file (``.1`` newest)."""
    keep_days: int | None = None
    """Delete day files older than this many days (None: never)."""


@dataclass(frozen=True, slots=True)
class RotationConfig:
    """Size, backup count and retention per kind of file; defaults are the guide's."""

    main: FileLimits = field(default_factory=lambda: FileLimits(100 * MB, 10, 31))
    debug: FileLimits = field(default_factory=lambda: FileLimits(200 * MB, 5, 7))
    errors: FileLimits = field(default_factory=lambda: FileLimits(50 * MB, 50, 183))
    component: FileLimits = field(default_factory=lambda: FileLimits(50 * MB, 10, 14))
    events: FileLimits = field(default_factory=lambda: FileLimits(200 * MB, 20, 31))

    @classmethod
    def uniform(cls, max_bytes: int, backups: int, keep_days: int | None = None) -> RotationConfig:
        """Same limits for every file (handy in tests)."""
        lim = FileLimits(max_bytes, backups, keep_days)
        return cls(lim, lim, lim, lim, lim)


def _component_filter(component: str) -> Callable[[logging.LogRecord], bool]:
    def accept(record: logging.LogRecord) -> bool:
        return resolve(record)[0] == component

    return accept


class LoggingHandle:
    """What :func:`setup_logging` installed; ``close()`` flushes and removes it all."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self.handlers: dict[str, logging.Handler] = {}
        self._installed: list[tuple[logging.Logger, logging.Handler]] = []
        self._levels: list[tuple[logging.Logger, int, bool]] = []
        self._queue_listeners: list[QueueListener] = []
        self.closed = False

    def paths(self) -> dict[str, Path]:
        """Current file of every file handler, by name (``main``, ``debug``, ..., ``events``)."""
        out: dict[str, Path] = {}
        for name, h in self.handlers.items():
            if isinstance(h, DailySizeRotatingFileHandler) and h.path is not None:
                out[name] = h.path
        return out

    def add_queue_listener(self, listener: QueueListener) -> None:
        self._queue_listeners.append(listener)

    def flush(self) -> None:
        for h in self.handlers.values():
            h.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for ql in self._queue_listeners:
            ql.stop()  # drains what workers sent before the files close
        self._queue_listeners.clear()
        for logger, handler in self._installed:
            logger.removeHandler(handler)
            handler.flush()
            handler.close()
        self._installed.clear()
        for logger, level, propagate in reversed(self._levels):
            logger.setLevel(level)
            logger.propagate = propagate
        self._levels.clear()

    def __enter__(self) -> LoggingHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def setup_logging(
    logs_dir: Path | str,
    *,
    level_console: int | None = None,
    rotation: RotationConfig | None = None,
    clock: Callable[[], float] | None = None,
) -> LoggingHandle:
    """Write the guide's files into ``logs_dir`` (created if needed); return a handle to close.

    ``sync_main_YYYYMMDD.log`` INFO+, ``sync_debug_…`` DEBUG+, ``sync_errors_…`` ERROR+,
    ``sync_{ipfs,sql,validation,sync}_…`` per component, ``sync_events_YYYYMMDD.jsonl`` (the
    JSON event stream written by :class:`LogListener`). ``level_console`` adds a stderr
    handler at that level. ``clock`` (tests) overrides the time used to date file names.
    """
    logs_dir = Path(logs_dir)
    try:
        logs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the logs directory {logs_dir}: {exc.strerror}. "
            "Use --logs-dir to choose a writable directory."
        ) from exc
    rot = rotation or RotationConfig()
    handle = LoggingHandle(logs_dir)
    root = logging.getLogger(ROOT_LOGGER)
    events_logger = logging.getLogger(JSONL_LOGGER)
    handle._levels.append((root, root.level, root.propagate))
    handle._levels.append((events_logger, events_logger.level, events_logger.propagate))
    root.setLevel(logging.DEBUG)
    events_logger.setLevel(logging.INFO)
    events_logger.propagate = False

    fmt = LineFormatter()

    def file_handler(
        prefix: str, limits: FileLimits, level: int, suffix: str = ".log"
    ) -> DailySizeRotatingFileHandler:
        h = DailySizeRotatingFileHandler(
            logs_dir,
            prefix,
            suffix,
            max_bytes=limits.max_bytes,
            backup_count=limits.backups,
            keep_days=limits.keep_days,
            clock=clock,
            level=level,
        )
        h.setFormatter(fmt)
        return h

    try:
        handle.handlers["main"] = file_handler("sync_main", rot.main, logging.INFO)
        handle.handlers["debug"] = file_handler("sync_debug", rot.debug, logging.DEBUG)
        handle.handlers["errors"] = file_handler("sync_errors", rot.errors, logging.ERROR)
        for comp in COMPONENTS:
            h = file_handler(f"sync_{comp.lower()}", rot.component, logging.INFO)
            h.addFilter(_component_filter(comp))
            handle.handlers[comp.lower()] = h
        ev = file_handler("sync_events", rot.events, logging.INFO, ".jsonl")
        ev.setFormatter(JsonLineFormatter())
        handle.handlers["events"] = ev
    except OSError as exc:
        for opened in handle.handlers.values():
            opened.close()
        for logger, level, propagate in handle._levels:
            logger.setLevel(level)
            logger.propagate = propagate
        raise ConfigError(
            f"Cannot open log files in {logs_dir}: {exc.strerror}. "
            "Use --logs-dir to choose a writable directory."
        ) from exc
    if level_console is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(level_console)
        console.setFormatter(fmt)
        handle.handlers["console"] = console

    for name, installed in handle.handlers.items():
        target = events_logger if name == "events" else root
        target.addHandler(installed)
        handle._installed.append((target, installed))
    return handle
