"""Prometheus metrics of one running sync, fed by the pipeline's event stream.

``MetricsListener`` subscribes to :class:`rubix_sync.events.EventBus`; every metric carries a
``machine`` label (the VM's name), so one Grafana board shows the whole fleet::

    rubix_sync_records_total                  records written
    rubix_sync_fetch_success_total            IPFS contents fetched and verified
    rubix_sync_fetch_failures_total{reason}   failed fetches by FetchFailed.reason
    rubix_sync_validation_failures_total      records that failed validation
    rubix_sync_sql_errors_total               records of batches the central database rejected
    rubix_sync_errors_total{error_type}       every ErrorOccurred
    rubix_sync_batch_seconds{stage}           batch latency histogram, stage fetch | write
    rubix_sync_databases_done                 databases finished or skipped this session
    rubix_sync_databases_total                databases found this session
    rubix_sync_databases_failed_total         databases that ended FAILED

``start_metrics_server(port, registry)`` serves them on 127.0.0.1 for ``run --metrics-port``.
"""

from __future__ import annotations

import errno
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from ..errors import ConfigError
from ..events import (
    BatchWritten,
    DatabaseFinished,
    DatabaseSkipped,
    ErrorOccurred,
    Event,
    FetchFailed,
    Progress,
    SessionFinished,
    SessionStarted,
)

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class MetricsListener:
    """An EventBus listener that keeps Prometheus metrics in its own registry."""

    def __init__(self, machine_name: str, registry: CollectorRegistry | None = None) -> None:
        self.machine_name = machine_name
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        m = ["machine"]
        self.records = Counter(
            "rubix_sync_records", "Records written to the central database", m, registry=r
        )
        self.fetch_success = Counter(
            "rubix_sync_fetch_success", "IPFS contents fetched and verified", m, registry=r
        )
        self.fetch_failures = Counter(
            "rubix_sync_fetch_failures", "Failed IPFS fetches by reason", [*m, "reason"], registry=r
        )
        self.validation_failures = Counter(
            "rubix_sync_validation_failures", "Records that failed validation", m, registry=r
        )
        self.sql_errors = Counter(
            "rubix_sync_sql_errors", "Errors of the central database", m, registry=r
        )
        self.errors = Counter("rubix_sync_errors", "Errors by type", [*m, "error_type"], registry=r)
        self.batch_seconds = Histogram(
            "rubix_sync_batch_seconds",
            "Seconds per batch, by stage (fetch, write)",
            [*m, "stage"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.databases_done = Gauge(
            "rubix_sync_databases_done",
            "Databases finished or skipped in this session",
            m,
            registry=r,
        )
        self.databases_total = Gauge(
            "rubix_sync_databases_total", "Databases found in this session", m, registry=r
        )
        self.databases_failed = Counter("rubix_sync_databases_failed",
                                        "Databases that ended FAILED", m, registry=r)  # fmt: skip
        self._lock = threading.Lock()
        # Pre-create the label sets so every series exists (at 0) from the first scrape.
        for metric in (self.records, self.fetch_success, self.validation_failures,
                       self.sql_errors, self.databases_done, self.databases_total,
                       self.databases_failed):  # fmt: skip
            metric.labels(machine_name)

    def __call__(self, event: Event) -> None:
        mach = self.machine_name
        with self._lock:
            if isinstance(event, BatchWritten):
                self.records.labels(mach).inc(event.records)
                self.fetch_success.labels(mach).inc(event.ipfs_success)
                self.validation_failures.labels(mach).inc(event.validation_failed)
                self.batch_seconds.labels(mach, "fetch").observe(event.fetch_seconds)
                self.batch_seconds.labels(mach, "write").observe(event.write_seconds)
            elif isinstance(event, FetchFailed):
                self.fetch_failures.labels(mach, event.reason or "unknown").inc()
            elif isinstance(event, ErrorOccurred):
                self.errors.labels(mach, event.error_type).inc()
                records = event.context.get("records", "")
                if event.error_type == "database" and records.isdigit():
                    # a batch the central database rejected (not a node database that failed)
                    self.sql_errors.labels(mach).inc(int(records))
            elif isinstance(event, SessionStarted):
                self.databases_total.labels(mach).set(event.total_databases)
                self.databases_done.labels(mach).set(0)
            elif isinstance(event, DatabaseFinished):
                self.databases_done.labels(mach).inc()
                if event.status == "FAILED":
                    self.databases_failed.labels(mach).inc()
            elif isinstance(event, DatabaseSkipped):
                self.databases_done.labels(mach).inc()
            elif isinstance(event, Progress | SessionFinished):
                # The pipeline's counters are authoritative: resynchronise the gauges.
                c = event.counters
                self.databases_total.labels(mach).set(c.total_databases)
                self.databases_done.labels(mach).set(c.databases_done)


class MetricsServer:
    """A running metrics endpoint; ``close()`` stops it."""

    def __init__(self, server: Any, thread: threading.Thread, host: str) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_metrics_server(
    port: int, registry: CollectorRegistry, host: str = "127.0.0.1"
) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` in a daemon thread (port 0: any free
    port; read ``.port``). A port in use raises :class:`ConfigError`."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"Metrics port {port} on {host} is in use: pick another with --metrics-port."
            ) from None
        raise ConfigError(
            f"Cannot serve metrics on {host}:{port}: {exc.strerror or exc}."
        ) from None
    return MetricsServer(server, thread, host)
