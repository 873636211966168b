"""NotificationListener on a real EventBus, delivering through the stand-in Bot API."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from rubix_sync.events import (
    DatabaseFinished,
    ErrorOccurred,
    EventBus,
    FetchFailed,
    Progress,
    SessionFinished,
    SessionStarted,
)
from rubix_sync.models import Counters
from rubix_sync.notify import messages
from rubix_sync.notify.base import MachineIdentity
from rubix_sync.notify.listener import NotificationListener
from rubix_sync.notify.telegram import TelegramNotifier

from .botapi_server import BotApiServer

T0 = datetime(2024, 1, 15, 14, 30, 0, tzinfo=timezone.utc).timestamp()
VM = MachineIdentity("Production-VM-1", "203.0.113.12")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _setup(make_config, clock: Clock, identity: MachineIdentity | None = VM, **kw):
    cfg = make_config(**kw)
    notifier = TelegramNotifier(cfg, identity=identity)
    listener = NotificationListener([notifier], cfg, identity, clock=clock)
    bus = EventBus()
    bus.subscribe(listener)
    return bus, listener


def _progress(records: int, elapsed: float, percent: float) -> Progress:
    c = Counters(total_databases=4, records=records, ipfs_success=records - 1, sql_errors=0)
    return Progress(counters=c, elapsed_seconds=elapsed, rate=records / elapsed, percent=percent,
                    ts=T0 + elapsed)  # fmt: skip


def test_demo_sync_sends_the_guides_messages_in_order(botapi: BotApiServer, make_config) -> None:
    clock = Clock()
    bus, listener = _setup(make_config, clock, database_completed_min_records=1000)
    bus.emit(SessionStarted(session_id="s1", machine_name="ignored", public_ip=None,
                            total_databases=4, roots=("/data",), database_kind="postgresql",
                            ts=T0))  # fmt: skip
    # progress is emitted often; only one per progress_interval (300 s) gets out
    for step in range(1, 13):
        clock.now = step * 60.0
        bus.emit(_progress(records=step * 1000, elapsed=step * 60.0, percent=step * 25 / 3))
    # a burst of 20 fetch timeouts at t=720..739 s: one now, the rest folded into one summary
    for i in range(20):
        clock.now = 720.0 + i
        bus.emit(
            FetchFailed(
                node="node042",
                token_id=f"Qm{i}",
                token_type="RBT",
                reason="timeout",
                detail="no block within 30s",
                ts=T0 + 720 + i,
            )
        )
    bus.emit(DatabaseFinished(node="node042_rubix", db_path="/d/rubix.db", correlation_id="c",
                              status="COMPLETED", records=25_430, ipfs_success=983,
                              ipfs_failed=17, validation_failed=0, duration_seconds=67.2,
                              size_bytes=1))  # fmt: skip
    bus.emit(DatabaseFinished(node="tiny", db_path="/t/rubix.db", correlation_id="c2",
                              status="COMPLETED", records=10, ipfs_success=10, ipfs_failed=0,
                              validation_failed=0, duration_seconds=1, size_bytes=1))  # fmt: skip
    clock.now = 790.0  # the timeout window (60 s from 720) has closed
    bus.emit(ErrorOccurred(error_type="database", message="Connection timeout to Azure SQL",
                           context={"session_id": "s1"}, ts=T0 + 790))  # fmt: skip
    final = Counters(total_databases=4, databases_done=4, records=12_000, ipfs_success=11_980,
                     ipfs_failed=20, sql_errors=0, errors=21)  # fmt: skip
    t0 = time.monotonic()
    bus.emit(SessionFinished(session_id="s1", status="COMPLETED", counters=final,
                             duration_seconds=800.0))  # fmt: skip
    assert time.monotonic() - t0 < 3.0
    listener.close()

    expected = [
        messages.startup_message(VM, started_at=T0, database_kind="postgresql"),
        messages.progress_message(VM, percent=5 * 25 / 3, records=5000, rate=5000 / 300,
                                  ipfs_success=4999, sql_errors=0, elapsed_seconds=300),
        messages.progress_message(VM, percent=10 * 25 / 3, records=10000, rate=10000 / 600,
                                  ipfs_success=9999, sql_errors=0, elapsed_seconds=600),
        messages.error_message(VM, error_type="timeout", message="timeout: no block within 30s",
                               at=T0 + 720, context={"node": "node042", "token_type": "RBT",
                                                     "token_id": "Qm0"}),
        messages.database_completed_message(VM, name="node042_rubix", records=25_430,
                                            duration_seconds=67.2, ipfs_success=983,
                                            ipfs_failed=17),
        messages.error_message(VM, error_type="timeout", message="timeout: no block within 30s",
                               at=T0 + 721, context={"node": "node042", "token_type": "RBT",
                                                     "token_id": "Qm1"}, more=18),
        messages.error_message(VM, error_type="database",
                               message="Connection timeout to Azure SQL", at=T0 + 790,
                               context={"session_id": "s1"}),
        messages.completion_message(VM, duration_seconds=800.0, databases=4, records=12_000,
                                    ipfs_success=11_980, ipfs_failed=20, sql_errors=0,
                                    errors=41),  # 20 failed fetches + 21 error events
    ]  # fmt: skip
    assert botapi.texts == expected
    assert "… and 18 more timeout errors in the last 60 s" in botapi.texts[5]
    assert "<pre>████████████████░░░░ 83.3%\n" in botapi.texts[2]


def test_flags_turn_messages_off(botapi: BotApiServer, make_config) -> None:
    clock = Clock()
    bus, listener = _setup(make_config, clock, send_startup=False, send_progress=False,
                           send_errors=False, send_completion=False,
                           send_database_completed=False)  # fmt: skip
    bus.emit(SessionStarted(session_id="s", machine_name="m", public_ip=None, total_databases=1,
                            roots=(), database_kind="sqlite"))  # fmt: skip
    clock.now = 10_000
    bus.emit(_progress(5, 10, 50))
    bus.emit(ErrorOccurred(error_type="other", message="x"))
    bus.emit(DatabaseFinished(node="n", db_path="p", correlation_id="c", status="COMPLETED",
                              records=10**6, ipfs_success=1, ipfs_failed=0, validation_failed=0,
                              duration_seconds=1, size_bytes=1))  # fmt: skip
    bus.emit(SessionFinished(session_id="s", status="COMPLETED", counters=Counters(),
                             duration_seconds=1))  # fmt: skip
    listener.close()
    assert botapi.requests == []


def test_identity_from_session_then_config(botapi: BotApiServer, make_config) -> None:
    clock = Clock()
    cfg = make_config(machine_name="cfg-name", public_ip=None)
    notifier = TelegramNotifier(cfg)
    listener = NotificationListener([notifier], cfg, None, clock=clock)
    start = SessionStarted(
        session_id="s",
        machine_name="vm-from-sync",
        public_ip="198.51.100.7",
        total_databases=1,
        roots=(),
        database_kind="sqlite",
        ts=T0,
    )
    listener(start)
    listener.close()
    assert botapi.texts[0].startswith("🖥️ vm-from-sync (198.51.100.7)\n<b>🚀 SYNC STARTED</b>")

    botapi.reset()
    listener = NotificationListener([TelegramNotifier(cfg)], cfg, None, clock=clock)
    listener(SessionStarted(session_id="s", machine_name="", public_ip=None, total_databases=1,
                            roots=(), database_kind="sqlite", ts=T0))  # fmt: skip
    listener.close()
    assert botapi.texts[0].startswith("🖥️ cfg-name\n<b>🚀 SYNC STARTED</b>")  # no "()"


def test_dead_telegram_does_not_slow_the_sync(make_config) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    clock = Clock()
    bus, listener = _setup(make_config, clock, api_base_url=f"http://127.0.0.1:{port}",
                           flush_timeout=1.0)  # fmt: skip
    t0 = time.monotonic()
    bus.emit(SessionStarted(session_id="s", machine_name="m", public_ip=None, total_databases=1,
                            roots=(), database_kind="sqlite"))  # fmt: skip
    for i in range(50):
        bus.emit(ErrorOccurred(error_type=f"type{i % 5}", message="boom"))
    emit_time = time.monotonic() - t0
    t1 = time.monotonic()
    bus.emit(SessionFinished(session_id="s", status="FAILED", counters=Counters(),
                             duration_seconds=1))  # fmt: skip
    reports = listener.close()
    finish_time = time.monotonic() - t1
    assert emit_time < 0.5, emit_time
    # SessionFinished flushes (<= 1 s); close only uses what is left of that same budget
    assert finish_time < 2.0, finish_time
    assert reports[0].sent == 0 and reports[0].undelivered == 1 + 5 + 5 + 1


class _BrokenChannel:
    """A channel whose send always raises: the sync must not notice."""

    channel = "broken"

    def send(self, text: str, *, kind: str) -> None:
        raise RuntimeError("channel exploded")

    def flush(self, timeout: float | None = None):
        from rubix_sync.notify.base import DeliveryReport

        return DeliveryReport("broken")

    def close(self, timeout: float | None = None):
        return self.flush(timeout)


def test_a_failing_channel_never_breaks_the_sync(botapi: BotApiServer, make_config, caplog) -> None:
    from rubix_sync.notify.base import Notifier

    cfg = make_config()
    good = TelegramNotifier(cfg, identity=VM)
    assert isinstance(good, Notifier) and isinstance(_BrokenChannel(), Notifier)
    listener = NotificationListener([_BrokenChannel(), good], cfg, VM, clock=Clock())
    bus = EventBus()
    bus.subscribe(listener)
    bus.emit(ErrorOccurred(error_type="other", message="still delivered", ts=T0))
    listener.close()
    assert len(botapi.texts) == 1 and "still delivered" in botapi.texts[0]
    assert "failed to queue a error message" in caplog.text
