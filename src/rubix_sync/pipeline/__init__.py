"""Drive the sync: discover → read → fetch → validate → write, emitting events on a bus.

Library entry point::

    from rubix_sync.config import load_settings
    from rubix_sync.pipeline import sync

    settings, _ = load_settings({"roots": ["/datadrive"], "database_url": "sqlite:///c.db"})
    result = sync(settings)
    print(result.counters, result.exit_code)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import threading

    from ..config import Settings
    from ..events import EventBus
    from ..identity import Identity
    from .runner import SyncResult

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "SyncResult",
    "sync",
]


def __getattr__(name: str) -> Any:
    # Lazy: worker processes import rubix_sync.pipeline.worker without the central-database
    # stack (SQLAlchemy) that the main loop needs.
    if name in {"EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "SyncResult"}:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(name)


def sync(
    settings: Settings,
    *,
    bus: EventBus | None = None,
    identity: Identity | None = None,
    stop: threading.Event | None = None,
    handle_signals: bool = True,
) -> SyncResult:
    """Run one sync session and return its result; raises ConfigError/SinkError before it starts.

    SIGTERM and SIGINT end the session as INTERRUPTED (its row is always closed).
    """
    import threading

    from ..events import EventBus
    from ..identity import resolve_identity
    from .runner import Runner, stop_on_signals

    bus = bus or EventBus()
    identity = identity or resolve_identity(settings)
    stop = stop or threading.Event()
    runner = Runner(settings, identity, bus, stop)
    if handle_signals:
        with stop_on_signals(stop):
            return runner.run()
    return runner.run()
