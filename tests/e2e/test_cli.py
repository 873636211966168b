"""`rubix-sync run` and `demo` as an operator runs them: processes, exit codes, one-line errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from rubix_sync.demo import make_deployment


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rubix_sync", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *fragments: str):
    assert proc.returncode == code, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-nodes")
    make_deployment(root, nodes=2, tokens_per_node=30, faults=False, seed=2)
    return root


def test_missing_root(tmp_path: Path):
    proc = cli("run", "--root", str(tmp_path / "nope"), cwd=tmp_path)
    assert_one_line_error(proc, 2, "nope", "does not exist")


def test_no_root_given(tmp_path: Path):
    proc = cli("run", cwd=tmp_path)
    assert_one_line_error(proc, 2, "--root")


def test_no_databases_found(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    proc = cli("run", "--root", str(tmp_path / "empty"), cwd=tmp_path)
    assert_one_line_error(proc, 2, "No Rubix node databases")


def test_bad_database_url(tmp_path: Path, small_root: Path):
    proc = cli("run", "--root", str(small_root), "--database", "nonsense-url", cwd=tmp_path)
    assert_one_line_error(proc, 2)


def test_unreachable_database_hides_password(tmp_path: Path, small_root: Path):
    url = "postgresql+psycopg://sync:examplePassw0rd@127.0.0.1:1/rubix"
    proc = cli("run", "--root", str(small_root), "--database", url, cwd=tmp_path)
    assert_one_line_error(proc, 2)
    assert "examplePassw0rd" not in proc.stderr + proc.stdout
    for log in (tmp_path / "logs").glob("*"):
        assert "examplePassw0rd" not in log.read_text()


def test_missing_optional_driver(tmp_path: Path, small_root: Path):
    url = "mssql+pyodbc://u:pw@127.0.0.1:1/db?driver=ODBC+Driver+18+for+SQL+Server"
    proc = cli("run", "--root", str(small_root), "--database", url, cwd=tmp_path)
    assert_one_line_error(proc, 2, "pip install 'rubix-sync[mssql]'")


def test_unwritable_default_database(tmp_path: Path, small_root: Path):
    (tmp_path / "rubix_sync.db").mkdir()  # the default file's place is taken by a folder
    proc = cli("run", "--root", str(small_root), cwd=tmp_path)
    assert_one_line_error(proc, 2, "rubix_sync.db")


def test_bad_config_file(tmp_path: Path, small_root: Path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("workers = [not toml")
    proc = cli("run", "--root", str(small_root), "--config", str(cfg), cwd=tmp_path)
    assert_one_line_error(proc, 2, "bad.toml", "TOML")


def test_bad_setting_value(tmp_path: Path, small_root: Path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('fetcher = "teleport"\n')
    proc = cli("run", "--root", str(small_root), "--config", str(cfg), cwd=tmp_path)
    assert_one_line_error(proc, 2, "fetcher")


def test_run_default_database_and_exit_zero(tmp_path: Path, small_root: Path):
    proc = cli("run", "--root", str(small_root), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Sync COMPLETED" in proc.stdout
    assert "Records: 60 " in proc.stdout
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'rubix_sync.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text('SELECT COUNT(*) FROM "TokenRecords"')).scalar() == 60
    engine.dispose()
    assert list((tmp_path / "logs").glob("sync_main_*.log"))


def test_demo_quickstart(tmp_path: Path):
    proc = cli("demo", "--nodes", "2", "--tokens-per-node", "25", "--faults", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # faults planted: some tokens fail
    assert "Demo deployment created" in proc.stdout
    assert "Sync COMPLETED" in proc.stdout
    again = cli("demo", "--nodes", "2", "--tokens-per-node", "25", "--faults", cwd=tmp_path)
    assert "unchanged" in again.stdout


def _count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text('SELECT COUNT(*) FROM "TokenRecords"')).scalar() or 0)
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def _start(root: Path, db: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rubix_sync",
            "run",
            "--root",
            str(root),
            "--database",
            f"sqlite:///{db}",
            "--batch-size",
            "20",
            "--workers",
            "1",
            "--no-progress",
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_rows(url: str, proc: subprocess.Popen[str], at_least: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        n = _count(url)
        if n >= at_least:
            return n
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the sync wrote nothing within 60 s")


def test_resume_after_sigkill(tmp_path: Path):
    from rubix_sync.config import load_settings
    from rubix_sync.identity import Identity
    from rubix_sync.pipeline import sync

    root = tmp_path / "nodes"
    info = make_deployment(root, nodes=1, tokens_per_node=4000, faults=False, seed=9)
    db = tmp_path / "central.db"
    url = f"sqlite:///{db}"
    proc = _start(root, db, tmp_path)
    _wait_for_rows(url, proc, 200)
    proc.kill()
    proc.communicate()
    written = _count(url)
    assert 0 < written < info.total_tokens

    settings, _ = load_settings({"roots": [root], "database_url": url, "workers": 0})
    result = sync(settings, identity=Identity("vm", None), handle_signals=False)
    assert _count(url) == info.total_tokens
    # it resumed after the last committed batch instead of starting over
    assert result.counters.records <= info.total_tokens - written + 20
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        statuses = [
            r[0]
            for r in conn.execute(sa.text('SELECT status FROM "SyncSessions" ORDER BY start_time'))
        ]
    engine.dispose()
    assert statuses[-1] == "COMPLETED"
    # the database's totals count the records of both runs, not just the resumed part
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        pd = conn.execute(
            sa.text('SELECT status, record_count, ipfs_success_count FROM "ProcessedDatabases"')
        ).one()
    engine.dispose()
    assert (pd.status, pd.record_count, pd.ipfs_success_count) == (
        "COMPLETED",
        info.total_tokens,
        info.total_tokens,
    )


def test_sigterm_closes_session_as_interrupted(tmp_path: Path):
    root = tmp_path / "nodes"
    make_deployment(root, nodes=1, tokens_per_node=4000, faults=False, seed=4)
    db = tmp_path / "central.db"
    url = f"sqlite:///{db}"
    proc = _start(root, db, tmp_path)
    _wait_for_rows(url, proc, 100)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text('SELECT status, end_time FROM "SyncSessions"')).one()
    engine.dispose()
    assert row.status == "INTERRUPTED"
    assert row.end_time is not None


def _worker_pids(parent: int) -> list[int]:
    """The sync's worker processes (children running multiprocessing's spawn main)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline:
            out.append(int(stat.parent.name))
    return out


def test_a_killed_worker_costs_its_database_only(tmp_path: Path):
    root = tmp_path / "nodes"
    info = make_deployment(root, nodes=3, tokens_per_node=3000, faults=False, seed=21)
    db = tmp_path / "central.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "RUBIX_SYNC_HEARTBEAT_INTERVAL": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rubix_sync", "run", "--root", str(root), "--database", url,
         "--batch-size", "20", "--workers", "1", "--no-progress"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    # one worker: the rows come from the database it is on, so it dies mid-way through it
    _wait_for_rows(url, proc, 100)
    workers = _worker_pids(proc.pid)
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err  # finished, one database failed
    assert "Traceback" not in err
    assert "worker process died" in out
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        statuses = sorted(
            r[0] for r in conn.execute(sa.text('SELECT status FROM "ProcessedDatabases"'))
        )
    engine.dispose()
    assert statuses == ["COMPLETED", "COMPLETED", "FAILED"]
    # the next run resumes the failed database from its checkpoint and completes everything
    again = subprocess.run(
        [sys.executable, "-m", "rubix_sync", "run", "--root", str(root), "--database", url,
         "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "2 unchanged" in again.stdout
    assert _count(url) == info.total_tokens
    resumed = int(re.search(r"Records: ([\d,]+) ", again.stdout).group(1).replace(",", ""))
    assert 0 < resumed < 3000  # only what the lost worker had not written yet


def test_metrics_port_serves_the_running_sync(tmp_path: Path):
    import socket
    import urllib.request

    root = tmp_path / "nodes"
    make_deployment(root, nodes=1, tokens_per_node=4000, faults=False, seed=8)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rubix_sync", "run", "--root", str(root), "--database",
         f"sqlite:///{tmp_path / 'c.db'}", "--batch-size", "20", "--workers", "1",
         "--no-progress", "--machine-name", "vm-metrics", "--metrics-port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = 0.0
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                body = r.read().decode()
        except OSError:
            time.sleep(0.05)
            continue
        m = re.search(r'^rubix_sync_records_total\{machine="vm-metrics"\} (\S+)$', body, re.M)
        if m and float(m.group(1)) > 0:
            seen = float(m.group(1))
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert 0 < seen <= 4000  # scraped while the sync was running
