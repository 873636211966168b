"""CentralDB: the one object the pipeline writes through.

Every public method is one short transaction on a pooled connection that is returned before
the method returns (or, for the iterator, before each page is yielded): no call ever holds a
connection while asking for another, so the pool cannot deadlock however many workers share it.
Driver errors are mapped into ``SinkTransientError`` (retried with backoff) and ``SinkError``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from ..errors import LeaseLostError, SinkError
from ..models import Counters, TokenRecord
from . import _url
from ._errors import driver_message, run_with_retry
from ._migrate import ensure_schema
from ._rows import synced_at_converter, to_record, to_rows
from .dialects.base import BulkUpserter, Dialect
from .schema import DATABASE_STATUSES, RECORD_COLUMNS, SESSION_STATUSES, Schema, build_schema

log = logging.getLogger("rubix_sync.sink")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProcessedState:
    """What the central database remembers about one node database."""

    machine_name: str
    db_path: str
    node_name: str | None
    fingerprint: str | None
    status: str | None
    checkpoint: str | None
    record_count: int
    ipfs_success_count: int
    ipfs_fail_count: int
    validation_error_count: int
    processing_duration_seconds: float | None
    last_processed: datetime | None
    error: str | None


class CentralDB:
    """The central database: schema, bulk upserts, checkpoints, sessions and leases."""

    kind: str
    engine: sa.Engine
    safe_url: str
    dialect: Dialect
    schema: Schema

    def __init__(
        self,
        engine: sa.Engine,
        dialect: Dialect,
        *,
        retry_attempts: int = 4,
        retry_wait: float = 0.2,
    ) -> None:
        self.engine = engine
        self.dialect = dialect
        self.kind = dialect.kind
        self.safe_url = _url.safe(engine.url)
        self.schema = build_schema(dialect)
        self.retry_attempts = retry_attempts
        self.retry_wait = retry_wait
        self._upserter: BulkUpserter = dialect.make_upserter(self.schema, engine.dialect)
        self._convert_synced_at = synced_at_converter(dialect)

    # ------------------------------------------------------------------ connection
    @classmethod
    def connect(
        cls,
        url: str | None = None,
        *,
        create: bool = True,
        retry_attempts: int = 4,
        retry_wait: float = 0.2,
        idle_transaction_timeout: float | None = None,
    ) -> CentralDB:
        """Open (and unless ``create=False``, create or migrate) the central database.

        ``idle_transaction_timeout`` (seconds; the runner passes its lease TTL): where the
        server supports it, a transaction left idle that long by a frozen process is aborted,
        so the lease row it locked while writing a batch can be taken over.

        ``None`` means the embedded SQLite file ``rubix_sync.db`` in the working directory.
        Raises ``ConfigError`` (bad URL), ``MissingDependencyError`` (driver not installed) or
        ``SinkError`` (unreachable, unwritable); messages never carry the password.
        """
        dialect, parsed = _url.resolve(url)
        try:
            engine = sa.create_engine(parsed, **dialect.engine_kwargs(parsed))
        except ImportError as exc:  # a driver that imports but whose own deps are missing
            from ..errors import MissingDependencyError

            raise MissingDependencyError(
                f"The central database {_url.safe(parsed)}", dialect.extra or dialect.kind
            ) from exc
        except (sa.exc.ArgumentError, TypeError, ValueError) as exc:
            from ..errors import ConfigError

            raise ConfigError(
                f"Invalid database URL {_url.safe(parsed)}: {driver_message(exc)}"
            ) from exc
        dialect.on_engine(engine)
        if idle_transaction_timeout and dialect.idle_transaction_timeout_sql:
            _on_connect_run(
                engine,
                dialect.idle_transaction_timeout_sql.format(
                    ms=max(1000, int(idle_transaction_timeout * 1000))
                ),
            )
        try:
            if create:
                ensure_schema(engine, build_schema(dialect))
            else:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            engine.dispose()
            hint = (
                "Check that the file is an SQLite database in a writable folder."
                if dialect.kind == "sqlite"
                else "Check the URL, that the server is running and that this user may "
                "create tables."
            )
            raise SinkError(
                f"Cannot use the central database {_url.safe(parsed)}: {driver_message(exc)}. "
                + hint
            ) from exc
        return cls(engine, dialect, retry_attempts=retry_attempts, retry_wait=retry_wait)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CentralDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CentralDB({self.safe_url!r})"

    def _tx(self, what: str, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in one transaction, retried on transient errors."""

        def attempt() -> T:
            with self.engine.begin() as conn:
                return fn(conn)

        return run_with_retry(
            attempt, self.dialect, what, attempts=self.retry_attempts, wait=self.retry_wait
        )

    # ------------------------------------------------------------------ sessions
    def start_session(self, machine_name: str, source_ip: str | None, total_databases: int) -> str:
        """Insert a RUNNING ``SyncSessions`` row; return its id (uuid4 hex)."""
        session_id = uuid.uuid4().hex
        t = self.schema.sessions
        now = self.dialect.utc_now()

        def op(conn: sa.Connection) -> None:
            conn.execute(
                t.insert().values(
                    session_id=session_id,
                    machine_name=machine_name,
                    source_ip=source_ip,
                    start_time=now,
                    last_heartbeat=now,
                    status="RUNNING",
                    total_databases=total_databases,
                    databases_done=0,
                    total_records_processed=0,
                    ipfs_success=0,
                    ipfs_failed=0,
                    validation_failed=0,
                    sql_errors=0,
                )
            )

        self._tx("starting the session", op)
        return session_id

    @staticmethod
    def _counter_values(counters: Counters) -> dict[str, int]:
        return {
            "total_databases": counters.total_databases,
            "databases_done": counters.databases_done,
            "total_records_processed": counters.records,
            "ipfs_success": counters.ipfs_success,
            "ipfs_failed": counters.ipfs_failed,
            "validation_failed": counters.validation_failed,
            "sql_errors": counters.sql_errors,
        }

    def heartbeat(self, session_id: str, counters: Counters) -> None:
        """Refresh ``last_heartbeat`` and the counters of a running session."""
        t = self.schema.sessions
        stmt = (
            t.update()
            .where(t.c.session_id == session_id)
            .values(last_heartbeat=self.dialect.utc_now(), **self._counter_values(counters))
        )
        self._tx("the session heartbeat", lambda conn: conn.execute(stmt))

    def finish_session(
        self, session_id: str, status: str, counters: Counters, error_summary: str | None
    ) -> None:
        """Close a session: COMPLETED, FAILED or INTERRUPTED, final counters, end time."""
        if status not in SESSION_STATUSES or status == "RUNNING":
            raise ValueError(
                f"finish_session: status must be COMPLETED, FAILED or INTERRUPTED, not {status!r}"
            )
        t = self.schema.sessions
        now = self.dialect.utc_now()
        stmt = (
            t.update()
            .where(t.c.session_id == session_id)
            .values(
                status=status,
                end_time=now,
                last_heartbeat=now,
                error_summary=error_summary,
                **self._counter_values(counters),
            )
        )
        self._tx("closing the session", lambda conn: conn.execute(stmt))

    # ------------------------------------------------------------------ databases
    def get_processed(self, machine_name: str, db_path: str) -> ProcessedState | None:
        """The ``ProcessedDatabases`` row of one node database, or None if never seen."""
        t = self.schema.processed
        stmt = sa.select(t).where(t.c.machine_name == machine_name, t.c.db_path == db_path)
        row = self._tx("reading ProcessedDatabases", lambda conn: conn.execute(stmt).first())
        if row is None:
            return None
        m = row._mapping
        return ProcessedState(
            machine_name=m["machine_name"],
            db_path=m["db_path"],
            node_name=m["node_name"],
            fingerprint=m["fingerprint"],
            status=m["status"],
            checkpoint=m["checkpoint"],
            record_count=m["record_count"] or 0,
            ipfs_success_count=m["ipfs_success_count"] or 0,
            ipfs_fail_count=m["ipfs_fail_count"] or 0,
            validation_error_count=m["validation_error_count"] or 0,
            processing_duration_seconds=m["processing_duration_seconds"],
            last_processed=m["last_processed"],
            error=m["error"],
        )

    def _put_processed(
        self, conn: sa.Connection, machine_name: str, db_path: str, values: dict[str, Any]
    ) -> None:
        """UPDATE the row, INSERT it when missing (one row per machine and path)."""
        t = self.schema.processed
        where = (t.c.machine_name == machine_name, t.c.db_path == db_path)
        if conn.execute(t.update().where(*where).values(**values)).rowcount == 0:
            conn.execute(t.insert().values(machine_name=machine_name, db_path=db_path, **values))

    def begin_database(
        self,
        machine_name: str,
        db_path: str,
        node_name: str,
        fingerprint: str,
        *,
        keep_checkpoint: bool,
    ) -> None:
        """Mark a node database IN_PROGRESS; clear its checkpoint unless resuming."""
        values: dict[str, Any] = {
            "node_name": node_name,
            "fingerprint": fingerprint,
            "status": "IN_PROGRESS",
            "error": None,
            "last_processed": self.dialect.utc_now(),
        }
        if not keep_checkpoint:
            values["checkpoint"] = None
        self._tx(
            f"starting {db_path}",
            lambda conn: self._put_processed(conn, machine_name, db_path, values),
        )

    def write_batch(
        self,
        records: Sequence[TokenRecord | tuple[Any, ...]],
        *,
        machine_name: str,
        db_path: str,
        checkpoint: str | None,
        lease_holder: str | None = None,
    ) -> None:
        """Upsert ``records`` and move the database's checkpoint, in ONE transaction.

        ``checkpoint=None`` leaves ``ProcessedDatabases`` alone (e.g. retrying failed fetches
        of an unchanged database). A string requires :meth:`begin_database` to have run.
        With ``lease_holder``, the transaction first touches that holder's lease row (locking
        it until commit) and raises :class:`LeaseLostError`, writing nothing, when another
        holder has taken the database over. Retried on transient errors; all or nothing.
        """
        try:
            rows = to_rows(records, self._convert_synced_at, self.dialect.dedupe_batch)
        except ValueError as exc:
            raise SinkError(f"Central database: cannot write a batch of {db_path}: {exc}") from exc
        t = self.schema.processed
        move = (
            t.update()
            .where(t.c.machine_name == machine_name, t.c.db_path == db_path)
            .values(checkpoint=checkpoint)
        )

        leases = self.schema.leases
        touch = (
            leases.update()
            .where(leases.c.db_path == db_path, leases.c.holder == lease_holder)
            .values(heartbeat=self.dialect.utc_now())
        )

        def op(conn: sa.Connection) -> None:
            if lease_holder is not None and conn.execute(touch).rowcount != 1:
                raise LeaseLostError(
                    f"The lease on {db_path} is no longer held by {lease_holder}: another "
                    "machine has taken this database over; this batch was not written."
                )
            if rows:
                self._upserter.upsert(conn, rows)
            if checkpoint is not None and conn.execute(move).rowcount != 1:
                raise SinkError(
                    f"Central database: no ProcessedDatabases row for {db_path} on "
                    f"{machine_name}: call begin_database() before write_batch()"
                )

        self._tx(f"writing a batch of {len(rows)} records from {db_path}", op)

    def finish_database(
        self,
        machine_name: str,
        db_path: str,
        node_name: str,
        fingerprint: str,
        *,
        status: str,
        record_count: int,
        ipfs_success: int,
        ipfs_failed: int,
        validation_failed: int,
        duration_seconds: float,
        error: str | None = None,
    ) -> None:
        """Record the outcome. COMPLETED clears the checkpoint; FAILED keeps it for resuming."""
        if status not in DATABASE_STATUSES:
            raise ValueError(
                f"finish_database: status must be one of {DATABASE_STATUSES}, not {status!r}"
            )
        values: dict[str, Any] = {
            "node_name": node_name,
            "fingerprint": fingerprint,
            "status": status,
            "record_count": record_count,
            "ipfs_success_count": ipfs_success,
            "ipfs_fail_count": ipfs_failed,
            "validation_error_count": validation_failed,
            "processing_duration_seconds": duration_seconds,
            "last_processed": self.dialect.utc_now(),
            "error": error,
        }
        if status == "COMPLETED":
            values["checkpoint"] = None
        self._tx(
            f"finishing {db_path}",
            lambda conn: self._put_processed(conn, machine_name, db_path, values),
        )

    # ------------------------------------------------------------------ records
    def iter_failed_fetches(
        self, machine_name: str, node_name: str, batch_size: int = 1000
    ) -> Iterator[list[TokenRecord]]:
        """Records of one node whose content was not fetched, in pages of ``batch_size``.

        Keyset-paginated on ``id``; each page is read in its own short transaction and the
        connection is back in the pool before the page is yielded.
        """
        t = self.schema.tokens
        cols = [t.c[c] for c in RECORD_COLUMNS]
        last_id: Any = None
        while True:
            stmt = (
                sa.select(t.c.id, *cols)
                .where(
                    t.c.machine_name == machine_name,
                    t.c.node_name == node_name,
                    t.c.ipfs_fetched == sa.false(),
                )
                .order_by(t.c.id)
                .limit(batch_size)
            )
            if last_id is not None:
                stmt = stmt.where(t.c.id > last_id)
            rows = self._tx("reading failed fetches", _fetch_all(stmt))
            if not rows:
                return
            last_id = rows[-1][0]
            yield [to_record(r[1:]) for r in rows]
            if len(rows) < batch_size:
                return

    def count_records(self, machine_name: str | None = None) -> int:
        """Rows in ``TokenRecords`` (of one machine, or all)."""
        t = self.schema.tokens
        stmt = sa.select(sa.func.count()).select_from(t)
        if machine_name is not None:
            stmt = stmt.where(t.c.machine_name == machine_name)
        return int(self._tx("counting records", lambda conn: conn.execute(stmt).scalar_one()))

    def node_totals(self, machine_name: str, node_name: str) -> tuple[int, int, int, int]:
        """(records, fetched, not fetched, fetched but invalid) held for one node: the truth
        for ``ProcessedDatabases`` whatever runs, resumes and retries wrote them."""
        t = self.schema.tokens
        fetched = sa.case((t.c.ipfs_fetched == sa.true(), 1), else_=0)
        invalid = sa.case(
            (sa.and_(t.c.ipfs_fetched == sa.true(), t.c.validation_errors.is_not(None)), 1),
            else_=0,
        )
        stmt = sa.select(sa.func.count(), sa.func.sum(fetched), sa.func.sum(invalid)).where(
            t.c.machine_name == machine_name, t.c.node_name == node_name
        )
        row = self._tx("counting a node's records", lambda conn: conn.execute(stmt).one())
        total, ok, bad = int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)
        return total, ok, total - ok, bad

    # ------------------------------------------------------------------ leases
    def try_acquire_lease(
        self,
        db_path: str,
        holder: str,
        ttl_seconds: float,
        *,
        is_dead: Callable[[str], bool] | None = None,
    ) -> bool:
        """Take the lease on ``db_path`` if it is free, expired, already ours, or its holder is
        known to be dead (``is_dead(holder)``: a crashed process on this very host).

        Never waits on another acquirer: a lease row locked by a concurrent transaction is
        skipped (PostgreSQL ``FOR UPDATE SKIP LOCKED``, SQL Server ``UPDLOCK, READPAST``;
        SQLite serialises writers with ``BEGIN IMMEDIATE``) and counts as taken.
        """
        t = self.schema.leases
        d = self.dialect

        def op(conn: sa.Connection) -> bool:
            now = d.utc_now()
            conn.execute(d.insert_if_missing(t, {"db_path": db_path}))
            free = sa.case(
                (sa.or_(t.c.holder.is_(None), t.c.expires_at.is_(None), t.c.expires_at < now), 1),
                else_=0,
            )
            select = sa.select(t.c.holder, free.label("free")).where(t.c.db_path == db_path)
            row = conn.execute(d.lock_row(select, t)).first()
            if row is None:
                return False  # another machine is deciding about this lease right now
            ours = row.holder == holder
            dead = bool(row.holder) and is_dead is not None and is_dead(row.holder)
            if not (ours or row.free or dead):
                return False
            values: dict[str, Any] = {
                "holder": holder,
                "expires_at": d.plus_seconds(now, ttl_seconds),
                "heartbeat": now,
            }
            if not ours:
                values["acquired_at"] = now
            conn.execute(t.update().where(t.c.db_path == db_path).values(**values))
            return True

        return self._tx(f"acquiring the lease on {db_path}", op)

    def renew_lease(self, db_path: str, holder: str, ttl_seconds: float) -> bool:
        """Extend our lease; False if another holder has taken it meanwhile."""
        t = self.schema.leases
        d = self.dialect

        def op(conn: sa.Connection) -> bool:
            now = d.utc_now()
            stmt = (
                t.update()
                .where(t.c.db_path == db_path, t.c.holder == holder)
                .values(expires_at=d.plus_seconds(now, ttl_seconds), heartbeat=now)
            )
            return bool(conn.execute(stmt).rowcount == 1)

        return self._tx(f"renewing the lease on {db_path}", op)

    def release_lease(self, db_path: str, holder: str) -> None:
        """Give the lease back (no-op when it is not ours)."""
        t = self.schema.leases
        stmt = t.delete().where(t.c.db_path == db_path, t.c.holder == holder)
        self._tx(f"releasing the lease on {db_path}", lambda conn: conn.execute(stmt))


def _fetch_all(stmt: sa.Select[Any]) -> Callable[[sa.Connection], Sequence[sa.Row[Any]]]:
    def run(conn: sa.Connection) -> Sequence[sa.Row[Any]]:
        return conn.execute(stmt).all()

    return run


def _on_connect_run(engine: sa.Engine, sql: str) -> None:
    @sa.event.listens_for(engine, "connect")
    def _setup(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()
        dbapi_conn.commit()
