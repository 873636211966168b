"""Opening the central database: URLs, drivers, unreachable servers, unwritable files."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from rubix_sync.errors import ConfigError, MissingDependencyError, SinkError
from rubix_sync.sink import CentralDB

from .conftest import make_record


def test_default_is_sqlite_file_in_cwd(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = CentralDB.connect()
    try:
        assert db.kind == "sqlite"
        assert (tmp_path / "rubix_sync.db").is_file()
        assert db.safe_url == f"sqlite:///{tmp_path / 'rubix_sync.db'}"
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        db.close()


@pytest.mark.parametrize(
    "url",
    ["not a url", "://nothing", "sqlite//missing-colon.db"],
    ids=["spaces", "no-scheme", "no-colon"],
)
def test_malformed_url_is_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="Invalid database URL") as err:
        CentralDB.connect(url)
    assert "\n" not in str(err.value)


def test_unsupported_scheme_is_config_error_without_password() -> None:
    with pytest.raises(ConfigError, match="Unsupported database URL scheme 'mysql'") as err:
        CentralDB.connect("mysql://admin:examplehunter2@127.0.0.1/db")
    assert "examplehunter2" not in str(err.value)
    assert "postgresql://" in str(err.value)


@pytest.mark.parametrize("scheme", ["mssql+pyodbc", "mssql"])
def test_missing_odbc_driver_names_the_pip_line(scheme: str) -> None:
    try:
        import pyodbc  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - only where the extra is installed
        pytest.skip("pyodbc is installed here")
    with pytest.raises(MissingDependencyError) as err:
        CentralDB.connect(f"{scheme}://sa:examples3cret!@127.0.0.1:1433/rubix")
    message = str(err.value)
    assert "pip install 'rubix-sync[mssql]'" in message
    assert "examples3cret" not in message
    assert err.value.extra == "mssql"


def test_unreachable_server_is_sink_error_without_password() -> None:
    started = time.monotonic()
    with pytest.raises(SinkError) as err:
        CentralDB.connect("postgresql://u:examplesecret@127.0.0.1:1/x")
    message = str(err.value)
    assert "examplesecret" not in message
    assert "127.0.0.1" in message and "postgresql+psycopg://u:***@127.0.0.1:1/x" in message
    assert "\n" not in message
    assert time.monotonic() - started < 15


def test_postgres_scheme_aliases(pg_url: str) -> None:
    for alias in ("postgres://", "postgresql://"):
        db = CentralDB.connect(pg_url.replace("postgresql+psycopg://", alias))
        try:
            assert db.kind == "postgresql"
            assert db.engine.url.drivername == "postgresql+psycopg"
            assert db.count_records() == 0
        finally:
            db.close()


def test_safe_url_masks_password(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:topsecret@")  # trust auth ignores it
    db = CentralDB.connect(url)
    try:
        assert "topsecret" not in db.safe_url and "***" in db.safe_url
        assert "topsecret" not in repr(db)
    finally:
        db.close()


def test_sqlite_parent_is_a_file(tmp_path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(SinkError, match="is not a folder") as err:
        CentralDB.connect(f"sqlite:///{blocker / 'central.db'}")
    assert "--database sqlite:///" in str(err.value)


def test_sqlite_missing_folder(tmp_path) -> None:
    with pytest.raises(SinkError, match="does not exist"):
        CentralDB.connect(f"sqlite:///{tmp_path / 'nope' / 'central.db'}")


def test_sqlite_path_is_a_folder(tmp_path) -> None:
    with pytest.raises(SinkError, match="it is a folder"):
        CentralDB.connect(f"sqlite:///{tmp_path}")


def test_sqlite_read_only_folder() -> None:
    from nobody import ChildRaised, as_nobody, shared_tmp

    def connect(url: str) -> None:
        CentralDB.connect(url)

    with shared_tmp() as base:
        ro = base / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        with pytest.raises((SinkError, ChildRaised)) as info:
            as_nobody(connect, f"sqlite:///{ro / 'central.db'}")
    if isinstance(info.value, ChildRaised):
        assert info.value.type_name == "SinkError"
    assert "not writable" in str(info.value)


def test_not_a_sqlite_file_is_sink_error(tmp_path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SinkError, match="Cannot use the central database"):
        CentralDB.connect(f"sqlite:///{junk}")


def test_create_false_does_not_create_tables(tmp_path) -> None:
    db = CentralDB.connect(f"sqlite:///{tmp_path / 'c.db'}", create=False)
    try:
        assert sa.inspect(db.engine).get_table_names() == []
    finally:
        db.close()


def _hold_write_lock(path, seconds: float) -> threading.Thread:
    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait()
    return thread


def test_busy_database_is_retried_then_written(tmp_path, caplog) -> None:
    path = tmp_path / "c.db"
    # A short busy timeout so SQLITE_BUSY surfaces; the retry loop must ride it out.
    db = CentralDB.connect(f"sqlite:///{path}?timeout=0.05", retry_attempts=6, retry_wait=0.1)
    try:
        holder = _hold_write_lock(path, 0.4)
        db.write_batch([make_record(1)], machine_name="vm-1", db_path="/x", checkpoint=None)
        holder.join()
        assert db.count_records() == 1
        assert any("database is locked" in r.getMessage() for r in caplog.records)
    finally:
        db.close()


def test_busy_database_gives_up_with_sink_error(tmp_path) -> None:
    path = tmp_path / "c.db"
    db = CentralDB.connect(f"sqlite:///{path}?timeout=0.05", retry_attempts=3, retry_wait=0.05)
    try:
        holder = _hold_write_lock(path, 1.5)
        with pytest.raises(SinkError, match=r"locked.*gave up after 3 attempts") as err:
            db.write_batch([make_record(1)], machine_name="vm-1", db_path="/x", checkpoint=None)
        assert type(err.value) is SinkError
        holder.join()
        assert db.count_records() == 0
    finally:
        db.close()


def test_pg_lock_timeout_is_transient_and_retried(pg_url: str, caplog) -> None:
    db = CentralDB.connect(pg_url + "%20-clock_timeout%3D100", retry_attempts=8, retry_wait=0.1)
    try:
        db.begin_database("vm-1", "/x", "n", "fp", keep_checkpoint=False)
        t = db.schema.processed
        release = threading.Event()

        def hold() -> None:
            with db.engine.connect() as conn:
                conn.execute(sa.select(t).with_for_update())
                release.wait(5)
                time.sleep(0.3)
                conn.rollback()

        thread = threading.Thread(target=hold)
        thread.start()
        time.sleep(0.2)
        release.set()
        db.write_batch([make_record(1)], machine_name="vm-1", db_path="/x", checkpoint="c1")
        thread.join()
        assert db.get_processed("vm-1", "/x").checkpoint == "c1"
        retries = [r for r in caplog.records if "retrying" in r.getMessage()]
        assert retries and "lock timeout" in retries[0].getMessage()
    finally:
        db.close()


def test_postgres_sessions_abort_transactions_left_idle(pg_url: str) -> None:
    db = CentralDB.connect(pg_url, idle_transaction_timeout=7.5)
    try:
        with db.engine.connect() as conn:
            value = conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar()
        assert value == "7500ms"
    finally:
        db.close()
    plain = CentralDB.connect(pg_url)
    try:
        with plain.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "0"
    finally:
        plain.close()
