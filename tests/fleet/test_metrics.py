"""MetricsListener on a real EventBus, scraped over HTTP from 127.0.0.1."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rubix_sync.errors import ConfigError
from rubix_sync.events import (
    BatchWritten,
    DatabaseFinished,
    DatabaseSkipped,
    ErrorOccurred,
    EventBus,
    FetchFailed,
    Progress,
    SessionStarted,
    ValidationFailed,
)
from rubix_sync.fleet.metrics import MetricsListener, start_metrics_server
from rubix_sync.models import Counters


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (loopback)
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def batch(records: int, ok: int, failed: int, invalid: int, fetch: float, write: float):
    return BatchWritten(
        node="node1",
        db_path="/srv/node1/Rubix/rubix.db",
        correlation_id="c1",
        records=records,
        ipfs_success=ok,
        ipfs_failed=failed,
        validation_failed=invalid,
        fetch_seconds=fetch,
        write_seconds=write,
        fetcher="blockstore",
    )


def finished(status: str):
    return DatabaseFinished(
        node="node1",
        db_path="/x",
        correlation_id="c1",
        status=status,
        records=0,
        ipfs_success=0,
        ipfs_failed=0,
        validation_failed=0,
        duration_seconds=1.0,
        size_bytes=10,
    )


def test_metrics_from_events_over_http():
    listener = MetricsListener("vm-7")
    bus = EventBus()
    bus.subscribe(listener)
    with start_metrics_server(0, listener.registry) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        before = scrape(server.url)
        m = (("machine", "vm-7"),)
        assert before[("rubix_sync_records_total", m)] == 0.0
        assert before[("rubix_sync_databases_total", m)] == 0.0

        bus.emit(
            SessionStarted(
                session_id="s1",
                machine_name="vm-7",
                public_ip=None,
                total_databases=4,
                roots=("/srv",),
                database_kind="sqlite",
            )
        )
        bus.emit(batch(100, 97, 3, 2, fetch=0.2, write=0.03))
        bus.emit(batch(50, 50, 0, 1, fetch=4.0, write=0.3))
        for reason in ("timeout", "timeout", "not_found"):
            bus.emit(
                FetchFailed(
                    node="node1", token_id="Qm1", token_type="RBT", reason=reason, detail="x"
                )
            )
        bus.emit(
            ValidationFailed(node="node1", token_id="Qm1", token_type="RBT", errors=("bad_level",))
        )
        bus.emit(
            ErrorOccurred(
                error_type="database", message="batch rejected", context={"records": "40"}
            )
        )
        bus.emit(ErrorOccurred(error_type="database", message="node db corrupt"))
        bus.emit(ErrorOccurred(error_type="ipfs", message="daemon slow"))
        bus.emit(finished("COMPLETED"))
        bus.emit(finished("FAILED"))
        bus.emit(DatabaseSkipped(node="node2", db_path="/y", reason="unchanged"))

        got = scrape(server.url)
        assert got[("rubix_sync_records_total", m)] == 150.0
        assert got[("rubix_sync_fetch_success_total", m)] == 147.0
        assert got[("rubix_sync_fetch_failures_total", (*m, ("reason", "timeout")))] == 2.0
        assert got[("rubix_sync_fetch_failures_total", (*m, ("reason", "not_found")))] == 1.0
        assert got[("rubix_sync_validation_failures_total", m)] == 3.0
        assert got[("rubix_sync_sql_errors_total", m)] == 40.0  # rejected records only
        assert got[("rubix_sync_errors_total", (("error_type", "ipfs"), *m))] == 1.0
        assert got[("rubix_sync_databases_total", m)] == 4.0
        assert got[("rubix_sync_databases_done", m)] == 3.0
        assert got[("rubix_sync_databases_failed_total", m)] == 1.0
        fetch = (*m, ("stage", "fetch"))
        write = (*m, ("stage", "write"))
        assert got[("rubix_sync_batch_seconds_count", fetch)] == 2.0
        assert got[("rubix_sync_batch_seconds_sum", fetch)] == pytest.approx(4.2)
        assert got[("rubix_sync_batch_seconds_sum", write)] == pytest.approx(0.33)
        assert (
            got[("rubix_sync_batch_seconds_bucket", (("le", "0.25"), *m, ("stage", "fetch")))]
            == 1.0
        )
        assert (
            got[("rubix_sync_batch_seconds_bucket", (("le", "5.0"), *m, ("stage", "fetch")))] == 2.0
        )

        # Progress carries the pipeline's own counters: the gauges follow them.
        bus.emit(
            Progress(
                counters=Counters(total_databases=5, databases_done=4),
                elapsed_seconds=10.0,
                rate=15.0,
                percent=80.0,
            )
        )
        got = scrape(server.url)
        assert got[("rubix_sync_databases_total", m)] == 5.0
        assert got[("rubix_sync_databases_done", m)] == 4.0


def test_registries_are_separate():
    a, b = MetricsListener("vm-a"), MetricsListener("vm-b")
    a(batch(10, 10, 0, 0, 0.1, 0.1))
    assert a.registry.get_sample_value("rubix_sync_records_total", {"machine": "vm-a"}) == 10.0
    assert b.registry.get_sample_value("rubix_sync_records_total", {"machine": "vm-b"}) == 0.0


def test_metrics_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            start_metrics_server(port, MetricsListener("vm").registry)
    assert str(info.value) == (
        f"Metrics port {port} on 127.0.0.1 is in use: pick another with --metrics-port."
    )
