"""One view of every VM: the fleet status, the guide's monitoring reports, a web dashboard
and Prometheus metrics, all read from the central database or the event stream.

Library API::

    fleet_status(engine, *, now=None, stale_after_seconds=120) -> list[MachineStatus]
    active_sessions(engine) / error_patterns(engine, hours=24) / hourly_records(engine, hours=24)
    Dashboard(engine, host="127.0.0.1", port=8765, auth=DashboardAuth(...)).start()
    MetricsListener(machine_name) + start_metrics_server(port, registry)

CLI commands (``rubix_sync.fleet.cli.COMMANDS``): ``status``, ``report``, ``dashboard``.
"""

from __future__ import annotations

from ._db import open_engine
from .reports import (
    ActiveSession,
    ErrorPattern,
    HourBucket,
    RecentError,
    active_sessions,
    error_patterns,
    hourly_records,
    recent_errors,
)
from .status import MachineStatus, fleet_status

__all__ = [
    "ActiveSession",
    "ErrorPattern",
    "HourBucket",
    "MachineStatus",
    "RecentError",
    "active_sessions",
    "error_patterns",
    "fleet_status",
    "hourly_records",
    "open_engine",
    "recent_errors",
]
