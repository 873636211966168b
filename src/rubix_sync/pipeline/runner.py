"""The main loop of a sync: schedule databases, write their batches, keep the one set of counters.

The main process alone talks to the central database and emits events; workers read, fetch and
validate. Every batch is written together with its checkpoint, so a killed run resumes where it
stopped. Databases are taken under a lease, so machines sharing node storage split the work.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import cast

from ..config import Settings
from ..discover import discover_nodes
from ..errors import (
    ConfigError,
    LeaseLostError,
    RubixSyncError,
    SinkError,
    SourceError,
    redact,
)
from ..events import (
    BatchWritten,
    DatabaseFinished,
    DatabaseSkipped,
    DatabaseStarted,
    ErrorOccurred,
    EventBus,
    FetcherChosen,
    FetchFailed,
    Progress,
    SessionFinished,
    SessionStarted,
    ValidationFailed,
)
from ..identity import Identity
from ..models import Counters, Node, RecordTuple
from ..sink import CentralDB
from ..source import fingerprint
from .leases import Leases
from .pools import InlinePool, ProcessPool
from .tasks import BatchStats, DatabaseTask, FetchOptions, RetrySource

log = logging.getLogger("rubix_sync.sync")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class SyncResult:
    session_id: str
    status: str
    counters: Counters
    duration_seconds: float
    failures: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "INTERRUPTED":
            return EXIT_INTERRUPTED
        c = self.counters
        if self.status != "COMPLETED" or self.failures or c.ipfs_failed or c.validation_failed:
            return EXIT_PARTIAL
        return EXIT_OK


@dataclass
class _Running:
    task: DatabaseTask
    fingerprint: str
    correlation_id: str
    started: float
    size_bytes: int
    is_retry: bool = False  # only an unchanged database's failed fetches, fetched again
    records: int = 0
    ipfs_success: int = 0
    ipfs_failed: int = 0
    validation_failed: int = 0
    error: str | None = None
    pid: int | None = None
    lease_until: float = float("inf")  # monotonic end of our lease as last confirmed
    lost: bool = False  # the lease expired and another machine took the database over


class Runner:
    def __init__(
        self,
        settings: Settings,
        identity: Identity,
        bus: EventBus,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.identity = identity
        self.bus = bus
        self.stop = stop
        self.counters = Counters()
        self.failures: list[str] = []
        self.db: CentralDB | None = None
        self.record_machine = settings.shared_storage or identity.machine_name
        self._running: dict[int, _Running] = {}
        self._next_id = 0

    # -- the run -----------------------------------------------------------------------
    def run(self) -> SyncResult:
        s = self.settings
        result = discover_nodes(s.roots, repo_overrides=s.ipfs_repo_overrides)
        for reason in result.skipped:
            log.warning("skipped while searching: %s", reason)
        nodes = result.nodes
        if not nodes:
            roots = ", ".join(str(r) for r in s.roots)
            raise ConfigError(
                f"No Rubix node databases (Rubix/rubix.db) found under {roots}. Check --root."
            )
        if not s.dry_run:
            self.db = CentralDB.connect(
                s.database_url_value(), idle_transaction_timeout=s.lease_ttl
            )
        self.leases = Leases(self.db, self.identity.machine_name, s.host_name, s.lease_ttl)
        self.counters.total_databases = len(nodes)
        session_id = (
            self.db.start_session(self.identity.machine_name, self.identity.public_ip, len(nodes))
            if self.db
            else uuid.uuid4().hex
        )
        self.session_id = session_id
        started = time.monotonic()
        self.bus.emit(
            SessionStarted(
                session_id=session_id,
                machine_name=self.identity.machine_name,
                public_ip=self.identity.public_ip,
                total_databases=len(nodes),
                roots=tuple(str(r) for r in s.roots),
                database_kind=self.db.kind if self.db else "none",
                dry_run=s.dry_run,
            )
        )
        status = "FAILED"
        pool: InlinePool | ProcessPool = (
            InlinePool() if s.workers == 0 else ProcessPool(min(s.workers, len(nodes)))
        )
        try:
            self._loop(deque(nodes), pool, started)
            status = "INTERRUPTED" if self.stop.is_set() else "COMPLETED"
        except KeyboardInterrupt:
            status = "INTERRUPTED"
        except Exception as exc:
            self.failures.append(f"sync aborted: {redact(exc)}")
            self._error("other", f"sync aborted: {exc}", {})
            raise
        finally:
            pool.close(terminate=status != "COMPLETED")
            self._release_all()
            duration = time.monotonic() - started
            counters = self.counters.copy()
            summary = "; ".join(self.failures[:50]) or None
            if self.db is not None:
                try:
                    self.db.finish_session(session_id, status, counters, summary)
                except RubixSyncError as exc:
                    log.error("could not close session %s: %s", session_id, exc)
                self.db.close()
            self.bus.emit(
                SessionFinished(
                    session_id=session_id,
                    status=status,
                    counters=counters,
                    duration_seconds=duration,
                    failures=tuple(self.failures),
                )
            )
        return SyncResult(session_id, status, counters, duration, list(self.failures))

    def _loop(self, pending: deque[Node], pool: InlinePool | ProcessPool, started: float) -> None:
        s = self.settings
        cap = max(1, s.workers) + 1
        deferred: list[Node] = []
        next_beat = next_progress = next_deferred = time.monotonic()
        while pending or self._running or deferred:
            if self.stop.is_set():
                return
            while pending and len(self._running) < cap:
                node = pending.popleft()
                if not self._dispatch(node, pool):
                    deferred.append(node)
            message = pool.get(timeout=0.2)
            if message is not None:
                self._handle(message)
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + s.heartbeat_interval
                self._heartbeat()
                self._check_workers(pool)
            if now >= next_progress:
                next_progress = now + s.progress_interval
                self._progress(started)
            if deferred and now >= next_deferred and len(self._running) < cap:
                next_deferred = now + min(5.0, s.lease_ttl / 4)
                pending.extend(deferred)
                deferred.clear()
            elif deferred and not pending and not self._running:
                time.sleep(0.2)  # only other machines' databases are left: wait for their leases
        self._progress(started)

    # -- scheduling ----------------------------------------------------------------------
    def _dispatch(self, node: Node, pool: InlinePool | ProcessPool) -> bool:
        """Start ``node``'s task or account for it at once; False: leased elsewhere, retry later."""
        db_path = str(node.db_path)
        try:
            fp = fingerprint(node.db_path)
            size = node.db_path.stat().st_size
        except (SourceError, OSError) as exc:
            self._database_failed(node, "", str(exc), 0.0)
            return True
        retry: RetrySource | None = None
        after: str | None = None
        lease_until = self.leases.acquire(db_path)
        if lease_until is None:
            return False
        if self.db is not None:
            state = self.db.get_processed(self.record_machine, db_path)
            if state is not None and state.status == "COMPLETED" and state.fingerprint == fp:
                if state.ipfs_fail_count:  # unchanged, but some content is still missing
                    retry = RetrySource(
                        self.settings.database_url_value(),
                        self.record_machine,
                        state.ipfs_fail_count,
                    )
                else:
                    self.leases.release(db_path)
                    self.counters.databases_done += 1
                    self.counters.databases_skipped += 1
                    self.bus.emit(
                        DatabaseSkipped(node=node.name, db_path=db_path, reason="unchanged")
                    )
                    return True
            else:
                resume = (  # a run killed, or a worker lost, part-way through it
                    state is not None
                    and state.status in ("IN_PROGRESS", "FAILED")
                    and state.fingerprint == fp
                    and bool(state.checkpoint)
                )
                after = state.checkpoint if (resume and state is not None) else None
                self.db.begin_database(
                    self.record_machine, db_path, node.name, fp, keep_checkpoint=resume
                )
        self._next_id += 1
        task = DatabaseTask(
            task_id=self._next_id,
            node=node,
            record_machine=self.record_machine,
            source_ip=self.identity.public_ip,
            batch_size=self.settings.batch_size,
            fetch=FetchOptions(
                mode=self.settings.fetcher,
                rpc_url=self.settings.ipfs_api_url,
                ipfs_bin=self.settings.ipfs_bin,
                timeout=self.settings.fetch_timeout,
                concurrency=self.settings.fetch_concurrency,
            ),
            after=after,
            retry=retry,
        )
        self._running[task.task_id] = _Running(
            task=task,
            fingerprint=fp,
            correlation_id=uuid.uuid4().hex[:8],
            started=time.monotonic(),
            size_bytes=size,
            is_retry=retry is not None,
            lease_until=lease_until,
        )
        pool.submit(task)
        return True

    # -- messages from workers -------------------------------------------------------------
    def _handle(self, message: tuple[object, ...]) -> None:
        kind, tid = message[0], cast(int, message[1])
        run = self._running.get(tid)
        if run is None:
            return
        node = run.task.node
        if kind == "take":
            run.pid = cast(int, message[2])
        elif kind == "fetcher":
            self.bus.emit(
                FetcherChosen(node=node.name, fetcher=str(message[2]), reason=str(message[3]))
            )
        elif kind == "start":
            if run.is_retry:
                self.bus.emit(
                    DatabaseSkipped(
                        node=node.name,
                        db_path=str(node.db_path),
                        reason="unchanged; retrying failed fetches",
                        retried_fetches=int(message[2]),  # type: ignore[call-overload]
                    )
                )
            else:
                self.bus.emit(
                    DatabaseStarted(
                        node=node.name,
                        db_path=str(node.db_path),
                        correlation_id=run.correlation_id,
                        estimated_tokens=int(message[2]),  # type: ignore[call-overload]
                        resumed=run.task.after is not None,
                    )
                )
        elif kind == "batch":
            self._write_batch(run, message[2], message[3], message[4])  # type: ignore[arg-type]
        elif kind == "done":
            self._finish(tid, run)
        elif kind == "error":
            del self._running[tid]
            self._database_failed(
                node,
                run.fingerprint,
                str(message[3]),
                time.monotonic() - run.started,
                error_type=str(message[2]),
                run=run,
            )

    def _write_batch(
        self,
        run: _Running,
        records: list[RecordTuple],
        checkpoint: str | None,
        stats: BatchStats,
    ) -> None:
        node = run.task.node
        db_path = str(node.db_path)
        write_seconds = 0.0
        if run.error is not None:
            return  # this database already failed to write: drop the rest of its batches
        if not self._still_ours(run):
            return  # another machine has taken this database over: it writes the rest
        if self.db is not None:
            t0 = time.perf_counter()
            try:
                self.db.write_batch(
                    records,
                    machine_name=self.record_machine,
                    db_path=db_path,
                    checkpoint=None if run.is_retry else checkpoint,
                    lease_holder=self.leases.holder,
                )
            except LeaseLostError:
                self._lost(run)
                return
            except SinkError as exc:
                run.error = f"central database rejected a batch: {exc}"
                self.counters.sql_errors += len(records)
                context = {"node": node.name, "records": str(len(records))}
                self._error("database", run.error, context, run.correlation_id)
                return
            write_seconds = time.perf_counter() - t0
        c = self.counters
        c.records += len(records)
        c.ipfs_success += stats.ipfs_success
        c.ipfs_failed += stats.ipfs_failed
        c.validation_failed += stats.validation_failed
        run.records += len(records)
        run.ipfs_success += stats.ipfs_success
        run.ipfs_failed += stats.ipfs_failed
        run.validation_failed += stats.validation_failed
        self.bus.emit(
            BatchWritten(
                node=node.name,
                db_path=db_path,
                correlation_id=run.correlation_id,
                records=len(records),
                ipfs_success=stats.ipfs_success,
                ipfs_failed=stats.ipfs_failed,
                validation_failed=stats.validation_failed,
                fetch_seconds=stats.fetch_seconds,
                write_seconds=write_seconds,
                fetcher=stats.fetcher,
            )
        )
        for token_id, token_type, reason, detail in stats.failures:
            self.bus.emit(
                FetchFailed(
                    node=node.name,
                    token_id=token_id,
                    token_type=token_type,
                    reason=reason,
                    detail=detail,
                    correlation_id=run.correlation_id,
                )
            )
        for token_id, token_type, codes in stats.invalid:
            self.bus.emit(
                ValidationFailed(
                    node=node.name,
                    token_id=token_id,
                    token_type=token_type,
                    errors=codes,
                    correlation_id=run.correlation_id,
                )
            )

    def _finish(self, tid: int, run: _Running) -> None:
        del self._running[tid]
        node = run.task.node
        if run.lost:
            self.counters.databases_done += 1
            self.counters.databases_skipped += 1
            self.bus.emit(
                DatabaseSkipped(
                    node=node.name,
                    db_path=str(node.db_path),
                    reason="lease lost to another machine",
                )
            )
            return
        if run.error is not None:
            self._database_failed(
                node,
                run.fingerprint,
                run.error,
                time.monotonic() - run.started,
                error_type="database",
                run=run,
                already_reported=True,
            )
            return
        duration = time.monotonic() - run.started
        if self.db is not None:
            try:
                # what the central database holds for the node, whatever earlier runs, a resume
                # or this retry wrote (this run's own numbers go to DatabaseFinished)
                totals = self.db.node_totals(self.record_machine, node.name)
                self.db.finish_database(
                    self.record_machine,
                    str(node.db_path),
                    node.name,
                    run.fingerprint,
                    status="COMPLETED",
                    record_count=totals[0],
                    ipfs_success=totals[1],
                    ipfs_failed=totals[2],
                    validation_failed=totals[3],
                    duration_seconds=duration,
                )
            except SinkError as exc:
                self._error("database", f"could not record {node.name} as done: {exc}", {})
            self.leases.release(str(node.db_path))
        self.counters.databases_done += 1
        if run.is_retry:
            self.counters.databases_skipped += 1
            return
        self.bus.emit(
            DatabaseFinished(
                node=node.name,
                db_path=str(node.db_path),
                correlation_id=run.correlation_id,
                status="COMPLETED",
                records=run.records,
                ipfs_success=run.ipfs_success,
                ipfs_failed=run.ipfs_failed,
                validation_failed=run.validation_failed,
                duration_seconds=duration,
                size_bytes=run.size_bytes,
            )
        )

    def _database_failed(
        self,
        node: Node,
        fp: str,
        reason: str,
        duration: float,
        *,
        error_type: str = "database",
        run: _Running | None = None,
        already_reported: bool = False,
    ) -> None:
        self.counters.databases_done += 1
        self.counters.databases_failed += 1
        self.failures.append(f"{node.name}: {reason}")
        cid = run.correlation_id if run else uuid.uuid4().hex[:8]
        if not already_reported:
            context = {"node": node.name, "db_path": str(node.db_path)}
            self._error(error_type, f"{node.name}: {reason}", context, cid)
        if self.db is not None and fp and not (run is not None and run.lost):
            try:
                self.db.finish_database(
                    self.record_machine,
                    str(node.db_path),
                    node.name,
                    fp,
                    status="FAILED",
                    record_count=run.records if run else 0,
                    ipfs_success=run.ipfs_success if run else 0,
                    ipfs_failed=run.ipfs_failed if run else 0,
                    validation_failed=run.validation_failed if run else 0,
                    duration_seconds=duration,
                    error=reason,
                )
            except SinkError as exc:
                log.error("could not record %s as failed: %s", node.name, exc)
            self.leases.release(str(node.db_path))
        self.bus.emit(
            DatabaseFinished(
                node=node.name,
                db_path=str(node.db_path),
                correlation_id=cid,
                status="FAILED",
                records=run.records if run else 0,
                ipfs_success=run.ipfs_success if run else 0,
                ipfs_failed=run.ipfs_failed if run else 0,
                validation_failed=run.validation_failed if run else 0,
                duration_seconds=duration,
                size_bytes=run.size_bytes if run else 0,
                error=reason,
            )
        )

    # -- housekeeping ----------------------------------------------------------------------
    def _error(
        self, error_type: str, message: str, context: dict[str, str], correlation_id: str = ""
    ) -> None:
        self.counters.errors += 1
        ctx = {"session_id": getattr(self, "session_id", ""), **context}
        self.bus.emit(
            ErrorOccurred(
                error_type=error_type,
                message=redact(message),
                context=ctx,
                correlation_id=correlation_id,
            )
        )

    def _heartbeat(self) -> None:
        if self.db is None:
            return
        try:
            self.db.heartbeat(self.session_id, self.counters.copy())
            for run in self._running.values():
                self._renew(run)
        except RubixSyncError as exc:
            log.warning("heartbeat failed: %s", exc)

    def _renew(self, run: _Running) -> None:
        """Extend ``run``'s lease; a lease already taken by another machine marks it lost."""
        if run.lost:
            return
        lease_until = self.leases.renew(str(run.task.node.db_path))
        if lease_until is not None:
            run.lease_until = lease_until
        else:  # another machine holds it: ours expired while this machine stalled
            self._lost(run)

    def _lost(self, run: _Running) -> None:
        """Another machine took ``run``'s database over: stop writing it, say so once."""
        if not run.lost:
            run.lost = True
            node = run.task.node
            self._error(
                "database",
                f"{node.name}: the lease on {node.db_path} expired while this machine was "
                "syncing it (stalled longer than lease_ttl) and another machine took it over; "
                "this machine stops writing it",
                {"db_path": str(node.db_path)},
                run.correlation_id,
            )

    def _still_ours(self, run: _Running) -> bool:
        """Whether ``run``'s lease is ours to write under; renewed first when half gone, so a
        machine that stalled past its lease never writes a database another machine now owns."""
        if self.db is not None and run.lease_until - time.monotonic() < self.settings.lease_ttl / 2:
            try:
                self._renew(run)
            except RubixSyncError as exc:  # unreachable: the write will fail the same way
                log.warning("could not renew the lease on %s: %s", run.task.node.db_path, exc)
        return not run.lost

    def _check_workers(self, pool: InlinePool | ProcessPool) -> None:
        dead = set(pool.reap())
        if not dead:
            return
        for tid, run in list(self._running.items()):
            if run.pid in dead:
                del self._running[tid]
                self._database_failed(
                    run.task.node,
                    run.fingerprint,
                    "worker process died",
                    time.monotonic() - run.started,
                    error_type="other",
                    run=run,
                )

    def _progress(self, started: float) -> None:
        elapsed = time.monotonic() - started
        c = self.counters.copy()
        pct = 100.0 * c.databases_done / c.total_databases if c.total_databases else 100.0
        self.bus.emit(
            Progress(
                counters=c,
                elapsed_seconds=elapsed,
                rate=c.records / elapsed if elapsed > 0 else 0.0,
                percent=pct,
            )
        )

    def _release_all(self) -> None:
        for run in self._running.values():
            self.leases.release(str(run.task.node.db_path))


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGTERM and SIGINT into ``stop`` (main thread only), restoring handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        stop.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
