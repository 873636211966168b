"""Issue #4 acceptance: the analyzer's numbers agree with the sync's own counters and with the
central database for the same run; the guide's grep recipes work on the real log files; no log
line carries a secret.

The sync runs in-process exactly as ``rubix-sync run`` does (``rubix_sync.app.run_app``: log
files, listeners, worker processes); the event bus it creates is a recording subclass, so the
test sees the pipeline's own events (``SessionFinished`` counters, batches, database
correlation IDs) without touching the log files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import rubix_sync.app as app
from rubix_sync.analyze.cli import analyze
from rubix_sync.config import load_settings
from rubix_sync.demo import FETCH_FAULTS, VALIDATION_FAULTS, DeploymentInfo, make_deployment
from rubix_sync.events import (
    BatchWritten,
    DatabaseStarted,
    ErrorOccurred,
    Event,
    EventBus,
    FetchFailed,
    Progress,
    SessionFinished,
    ValidationFailed,
)
from rubix_sync.observe import LINE_RE
from rubix_sync.pipeline import SyncResult

SECRET = "dummySecret123"
HEADINGS = (
    "RUBIX TOKEN SYNC - LOG ANALYSIS REPORT",
    "📊 PERFORMANCE SUMMARY",
    "🔍 OPERATION BREAKDOWN",
    "⚠️  ERROR ANALYSIS",
    "📈 HOURLY PERFORMANCE TRENDS",
)


class RecordingBus(EventBus):
    """The real EventBus, also keeping every event (run_app builds its own bus)."""

    last: RecordingBus | None = None

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []
        RecordingBus.last = self

    def emit(self, event: Event) -> None:
        self.events.append(event)
        super().emit(event)


@dataclass
class Run:
    work: Path
    logs: Path
    url: str
    info: DeploymentInfo
    result: SyncResult
    events: list[Event]
    stdout: str
    db_cids: dict[str, str] = field(default_factory=dict)

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def finished(self) -> SessionFinished:
        (e,) = self.of(SessionFinished)
        return e


def sync_run(
    work: Path,
    root: Path,
    url: str,
    info: DeploymentInfo,
    mp: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str] | None = None,
) -> Run:
    logs = work / "logs"
    settings, document = load_settings(
        {
            "roots": [root],
            "database_url": url,
            "logs_dir": logs,
            "machine_name": "Demo-VM",
            "public_ip": "127.0.0.1",
            "detect_public_ip": False,
            "workers": 2,
            "batch_size": 25,
            "progress_interval": 0.05,
        }
    )
    mp.setattr(app, "EventBus", RecordingBus)
    mp.chdir(work)
    result = app.run_app(settings, document, progress=False, notifications=False)
    bus = RecordingBus.last
    assert bus is not None
    stdout = capsys.readouterr().out if capsys is not None else ""
    run = Run(work, logs, url, info, result, bus.events, stdout)
    run.db_cids = {e.node: e.correlation_id for e in run.of(DatabaseStarted)}
    return run


def scalar(url: str, sql: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def session_row(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = list(conn.execute(sa.text('SELECT * FROM "SyncSessions"')))
    finally:
        engine.dispose()
    assert len(rows) == 1
    return dict(rows[0]._mapping)


def analyze_cli(*args: str) -> str:
    res = CliRunner().invoke(analyze, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def analyze_json(logs: Path, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(
        analyze_cli("--logs-dir", str(logs), "--format", "json", *args)
    )
    return out


def grep(work: Path, pipeline: str) -> list[str]:
    """A grep recipe of the guide, run by a real shell in the folder holding logs/."""
    proc = subprocess.run(
        ["bash", "-c", pipeline], cwd=work, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout.splitlines()


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DeploymentInfo]:
    root = tmp_path_factory.mktemp("an-nodes")
    return root, make_deployment(root, nodes=3, tokens_per_node=60, faults=True, seed=31)


@pytest.fixture(scope="module")
def sqlite_run(
    faulty: tuple[Path, DeploymentInfo], tmp_path_factory: pytest.TempPathFactory
) -> Run:
    root, info = faulty
    work = tmp_path_factory.mktemp("an-sqlite")
    with pytest.MonkeyPatch.context() as mp:
        return sync_run(work, root, f"sqlite:///{work / 'central.db'}", info, mp)


def assert_numbers_agree(run: Run, d: dict[str, Any]) -> None:
    """The analyzer's JSON == the SessionFinished counters == SyncSessions == TokenRecords."""
    c = run.result.counters
    assert run.finished.counters == c
    row = session_row(run.url)
    perf, ops, errs = d["performance"], d["operations"], d["errors"]
    # analyzer == the sync's own counters (event and session row)
    assert perf["total_records"] == c.records == row["total_records_processed"]
    assert ops["ipfs_success"] == c.ipfs_success == row["ipfs_success"]
    assert ops["ipfs_failed"] == c.ipfs_failed == row["ipfs_failed"]
    assert ops["validation_failed"] == c.validation_failed == row["validation_failed"]
    assert ops["sql_failed"] == ops["sql_errors"] == c.sql_errors == row["sql_errors"]
    assert ops["sql_success"] == c.records
    assert ops["bulk_inserts"] == len(run.of(BatchWritten))
    # analyzer == the central database
    tr = '"TokenRecords"'
    assert perf["total_records"] == scalar(run.url, f"SELECT COUNT(*) FROM {tr}")
    assert ops["ipfs_failed"] == scalar(
        run.url, f"SELECT COUNT(*) FROM {tr} WHERE NOT ipfs_fetched"
    )
    assert ops["ipfs_success"] == scalar(run.url, f"SELECT COUNT(*) FROM {tr} WHERE ipfs_fetched")
    assert ops["validation_failed"] == scalar(
        run.url,
        f"SELECT COUNT(*) FROM {tr} WHERE validation_errors IS NOT NULL AND ipfs_fetched",
    )
    # the rates are those numbers' ratios
    attempted = c.ipfs_success + c.ipfs_failed
    assert perf["ipfs_success_rate"] == pytest.approx(100.0 * c.ipfs_success / attempted)
    assert perf["sql_success_rate"] == pytest.approx(100.0 * c.records / (c.records + c.sql_errors))
    assert perf["validation_pass_rate"] == pytest.approx(
        100.0 * (c.records - c.validation_failed) / c.records
    )
    # errors: every per-token failure and every error event of the run
    assert errs["fetch_failures"] == len(run.of(FetchFailed))
    assert errs["validation_failures"] == len(run.of(ValidationFailed))
    assert errs["error_events"] == len(run.of(ErrorOccurred)) == c.errors
    assert errs["total"] == (
        len(run.of(FetchFailed)) + len(run.of(ValidationFailed)) + len(run.of(ErrorOccurred))
    )
    assert d["databases"]["failed"] == c.databases_failed
    assert d["databases"]["completed"] == c.databases_done - c.databases_failed
    (session,) = d["sessions"]
    assert session["session_id"] == run.result.session_id
    assert session["records"] == c.records
    assert session["counters"] == c.as_dict()
    assert d["machines"] == [{"machine_name": "Demo-VM", "sessions": 1, "records": c.records}]
    assert d["input"]["skipped_lines"] == 0


def test_analyzer_numbers_equal_the_syncs_counters_and_the_central_db(sqlite_run: Run) -> None:
    run, info = sqlite_run, sqlite_run.info
    c = run.result.counters
    # the planted faults are there to be counted
    assert c.records == info.total_tokens
    assert c.ipfs_failed == info.expected_ipfs_failed > 0
    assert c.validation_failed == info.expected_validation_failed > 0
    assert c.databases_failed == info.expected_corrupt_databases == 1
    d = analyze_json(run.logs)
    assert_numbers_agree(run, d)
    assert d["errors"]["types"] == {
        "timeout": 0,
        "ipfs": info.expected_ipfs_failed,
        "validation": info.expected_validation_failed,
        "database": 1,  # the corrupt node database
        "connection": 0,
        "other": 0,
    }
    # the window applies: the run just happened, so the last hour holds all of it
    recent = analyze_json(run.logs, "--hours", "1")
    assert recent["performance"] == d["performance"]
    assert recent["operations"] == d["operations"]


def test_text_report_has_the_guides_sections_and_the_same_numbers(sqlite_run: Run) -> None:
    run = sqlite_run
    c = run.result.counters
    text = analyze_cli("--logs-dir", str(run.logs))
    for h in HEADINGS:
        assert h in text
    attempted = c.ipfs_success + c.ipfs_failed
    errors = len(run.of(FetchFailed)) + len(run.of(ValidationFailed)) + len(run.of(ErrorOccurred))
    for line in (
        f"Total Records Processed: {c.records:,}",
        f"IPFS Success Rate: {100.0 * c.ipfs_success / attempted:.1f}%",
        "SQL Success Rate: 100.0%",
        f"Validation Pass Rate: {100.0 * (c.records - c.validation_failed) / c.records:.1f}%",
        f"IPFS Operations: {c.ipfs_success:,} success, {c.ipfs_failed:,} failed",
        f"SQL Operations: {c.records:,} success, 0 failed",
        f"Bulk Inserts: {len(run.of(BatchWritten)):,} operations",
        f"Total Errors: {errors:,}",
        f"Error Rate: {100.0 * errors / c.records:.2f}%",
        f"  validation: {c.validation_failed:,}",
        f"  ipfs: {c.ipfs_failed:,}",
        "  database: 1",
        f"Databases: {c.databases_done - c.databases_failed} completed, 1 failed, 0 skipped",
    ):
        assert f"\n{line}\n" in text, line
    assert re.search(r"\n  \d{4}-\d\d-\d\d \d\d:00: [\d.]+ records/sec \(samples: \d+\)\n", text)
    assert f"{run.result.session_id} on Demo-VM: COMPLETED" in text


def test_errors_only_leads_back_to_each_databases_correlation_id(sqlite_run: Run) -> None:
    run, info = sqlite_run, sqlite_run.info
    sid = run.result.session_id
    session_link = f"{sid[:8]} (session {sid})"
    d = analyze_json(run.logs, "--errors-only")
    entries = d["error_list"]
    for node in info.token_counts:  # every readable node got every kind of fault
        cid = run.db_cids[node]
        mine = [
            e for e in entries if e["node"] == node and e["error_type"] in ("ipfs", "validation")
        ]
        planted = {kind: {t for n, t in info.faults[kind] if n == node} for kind in info.faults}
        fetch = {t for k in FETCH_FAULTS for t in planted[k]}
        invalid = {t for k in VALIDATION_FAULTS for t in planted[k]}
        for etype, tokens in (("ipfs", fetch), ("validation", invalid)):
            group = [e for e in mine if e["error_type"] == etype]
            assert sum(e["count"] for e in group) == len(tokens), (node, etype, group)
            for e in group:
                assert any(t in e["message"] for t in tokens), e["message"]
        for e in mine:
            assert e["correlation_id"] == cid
            assert e["chain"] == [f"{cid} (database {node})", session_link]
    # the corrupt database: its failure, under its own correlation ID, below the session
    (corrupt,) = info.corrupt_nodes
    failed = [e for e in entries if e["error_type"] == "database failed"]
    assert [e["node"] for e in failed] == [corrupt]
    assert "not an SQLite database" in failed[0]["message"]
    assert failed[0]["chain"][-1] == session_link
    # the same chains in the text layout, and the correlation IDs are those of the log lines
    text = analyze_cli("--logs-dir", str(run.logs), "--errors-only")
    assert "RUBIX TOKEN SYNC - LOG ANALYSIS REPORT (ERRORS ONLY)" in text
    sync_log = "".join(p.read_text() for p in run.logs.glob("sync_sync_*.log"))
    for node, cid in run.db_cids.items():
        assert f"    chain: {cid} (database {node}) <- {session_link}\n" in text
        assert f"SYNC:DATABASE [{cid}] - Database {node} started" in sync_log


def test_the_guides_grep_recipes_find_what_they_promise(sqlite_run: Run) -> None:
    run = sqlite_run
    c = run.result.counters
    batches = len(run.of(BatchWritten))
    progress = grep(run.work, 'grep "Progress:" logs/sync_main_*.log')
    assert len(progress) == len(run.of(Progress)) >= 2
    assert f"Progress: 100.0% (4/4 databases), {c.records} records," in progress[-1]
    assert grep(run.work, 'grep "IPFS.*SUCCESS" logs/sync_ipfs_*.log | wc -l') == [str(batches)]
    sql = grep(run.work, 'grep "Database.*SUCCESS" logs/sync_sql_*.log')
    assert len(sql) == batches
    upserted = [re.search(r"bulk upsert of (\d+) records", line) for line in sql]
    assert sum(int(m.group(1)) for m in upserted if m) == c.records
    errors = grep(run.work, 'grep "ERROR" logs/sync_errors_*.log')
    assert errors and all(" - ERROR - " in line for line in errors)
    assert any("not an SQLite database" in line for line in errors)
    # every human line has the guide's format, with an 8-character correlation ID
    with_cid = grep(run.work, 'grep -h "\\[.*\\]" logs/sync_main_*.log')
    records = [
        line
        for f in sorted(run.logs.glob("sync_main_*.log"))
        for line in f.read_text().splitlines()
        if re.match(r"\d{4}-\d\d-\d\d ", line)  # not a Stack Trace block's lines
    ]
    assert records and set(records) <= set(with_cid)
    for line in records:
        m = re.match(LINE_RE, line)
        assert m and len(m.group("cid")) == 8, line
    # one IPFS SUCCESS line per batch, naming its database's correlation ID
    for node, cid in run.db_cids.items():
        lines = grep(run.work, f'grep "IPFS:FETCH \\[{cid}\\] - IPFS SUCCESS" logs/sync_ipfs_*.log')
        assert len(lines) == sum(1 for e in run.of(BatchWritten) if e.node == node)


@pytest.mark.postgres
def test_postgres_run_agrees_and_no_log_holds_the_password(
    faulty: tuple[Path, DeploymentInfo],
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, info = faulty
    assert pg_url.startswith("postgresql+psycopg://postgres@")
    url = pg_url.replace("postgres@", f"postgres:{SECRET}@", 1)
    run = sync_run(tmp_path, root, url, info, monkeypatch, capsys)
    assert run.result.counters.records == info.total_tokens
    assert_numbers_agree(run, analyze_json(run.logs))
    assert "postgresql" in run.stdout and SECRET not in run.stdout
    files = sorted(run.logs.iterdir())
    assert any(p.name.startswith("sync_debug_") for p in files)
    for p in files:
        assert SECRET not in p.read_text(errors="replace"), p.name
    for report in (
        analyze_cli("--logs-dir", str(run.logs)),
        analyze_cli("--logs-dir", str(run.logs), "--errors-only"),
    ):
        assert SECRET not in report


@pytest.mark.postgres
def test_a_driver_error_quoting_the_password_never_reaches_a_log(
    faulty: tuple[Path, DeploymentInfo],
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The server rejects node002's rows with an error text that quotes a URL with the password
    and a ``password=`` pair; the sync logs the error everywhere, the password nowhere."""
    from rubix_sync.sink.central import CentralDB

    root, info = faulty
    url = pg_url.replace("postgres@", f"postgres:{SECRET}@", 1)
    CentralDB.connect(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION planted_reject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.node_name = 'node002' THEN RAISE EXCEPTION 'replica "
            f"postgresql://postgres:{SECRET}@127.0.0.1:5432/central refused (password={SECRET})'; "
            "END IF; RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            'CREATE TRIGGER planted BEFORE INSERT ON "TokenRecords" '
            "FOR EACH ROW EXECUTE FUNCTION planted_reject()"
        )
    engine.dispose()
    run = sync_run(tmp_path, root, url, info, monkeypatch, capsys)
    assert run.result.counters.sql_errors > 0
    errors_log = "".join(p.read_text() for p in run.logs.glob("sync_errors_*.log"))
    assert "replica postgresql://postgres:***@127.0.0.1:5432/central refused" in errors_log
    assert SECRET not in run.stdout
    for p in sorted(run.logs.iterdir()):
        assert SECRET not in p.read_text(errors="replace"), p.name
    report = analyze_cli("--logs-dir", str(run.logs), "--errors-only")
    assert "refused" in report and SECRET not in report
    # masking kept every JSON line whole: the analyzer still sees every event
    d = analyze_json(run.logs)
    assert d["input"]["skipped_lines"] == 0
    assert d["errors"]["error_events"] == 2 and d["databases"]["failed"] == 2
    assert_numbers_agree(run, d)


def test_rejected_batches_count_the_same_in_the_analyzer(
    faulty: tuple[Path, DeploymentInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A central database that rejects one node's rows (a trigger): SQL errors everywhere agree."""
    from rubix_sync.sink.central import CentralDB

    root, info = faulty
    url = f"sqlite:///{tmp_path / 'central.db'}"
    CentralDB.connect(url).close()  # the schema, then a trigger refusing node002's rows
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            'CREATE TRIGGER planted BEFORE INSERT ON "TokenRecords" '
            "WHEN NEW.node_name = 'node002' BEGIN SELECT RAISE(ABORT, 'planted rejection'); END"
        )
    engine.dispose()
    run = sync_run(tmp_path, root, url, info, monkeypatch)
    c = run.result.counters
    assert c.sql_errors > 0 and c.databases_failed == 2
    assert c.records == info.total_tokens - info.token_counts["node002"]
    assert_numbers_agree(run, analyze_json(run.logs))


def test_analyze_is_a_rubix_sync_command(tmp_path: Path) -> None:
    """`rubix-sync analyze` is how the guide and the issue call it."""
    (tmp_path / "logs").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "rubix_sync", "analyze", "--logs-dir", "logs", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["performance"]["total_records"] == 0
