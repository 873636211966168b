"""fleet_status and the three monitoring reports against seeded SQLite and PostgreSQL databases;
every expected number is counted by hand from conftest.SESSIONS / TOKENS."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, postgresql, sqlite

from rubix_sync.fleet import reports
from rubix_sync.fleet.reports import active_sessions, error_patterns, hourly_records, recent_errors
from rubix_sync.fleet.status import fleet_status, latest_sessions_query

from .conftest import NOW, UTC, session


def test_fleet_status_exact_rows(seeded_engine):
    rows = {r.machine_name: r for r in fleet_status(seeded_engine, now=NOW)}
    assert list(rows) == ["vm-a", "vm-b", "vm-c", "vm-d", "vm-e"]

    a = rows["vm-a"]
    assert (a.session_id, a.state, a.source_ip) == ("a-2", "RUNNING", "203.0.113.10")
    assert (a.databases_done, a.total_databases, a.progress_percent) == (4, 10, 40.0)
    assert a.records == 6000
    assert a.elapsed_seconds == 600.0
    assert a.rate == 10.0
    assert a.eta_seconds == pytest.approx(900.0)  # 600 s / 4 databases x 6 left
    assert a.ipfs_success_percent == pytest.approx(5900 / 6000 * 100)
    assert a.validation_pass_percent == pytest.approx(99.0)
    assert a.errors == 102  # 100 failed fetches + 2 SQL errors
    assert a.heartbeat_age_seconds == 10.0
    assert a.last_heartbeat == NOW - timedelta(seconds=10)
    assert a.last_heartbeat.tzinfo is not None

    b = rows["vm-b"]
    assert b.state == "STALE"
    assert b.heartbeat_age_seconds == 1800.0
    assert b.elapsed_seconds == 1800.0  # until its last heartbeat
    assert b.rate == pytest.approx(1000 / 1800)
    assert b.eta_seconds is None
    assert (b.ipfs_success_percent, b.validation_pass_percent, b.errors) == (99.0, 100.0, 10)

    c = rows["vm-c"]
    assert (c.state, c.progress_percent, c.rate, c.eta_seconds) == ("COMPLETED", 100.0, 1.0, None)
    assert c.end_time == NOW - timedelta(seconds=3600)

    d = rows["vm-d"]
    assert (d.state, d.rate, d.errors, d.ipfs_success_percent) == ("FAILED", 0.2, 55, 75.0)
    assert d.validation_pass_percent == 90.0
    assert d.error_summary == "node7: database disk image is malformed"

    e = rows["vm-e"]
    assert (e.state, e.records, e.rate, e.progress_percent) == ("INTERRUPTED", 0, 0.0, 0.0)
    assert (e.ipfs_success_percent, e.validation_pass_percent) == (None, None)


def test_stale_limit_is_configurable(seeded_engine):
    states = {
        r.machine_name: r.state
        for r in fleet_status(seeded_engine, now=NOW, stale_after_seconds=3600)
    }
    assert states["vm-b"] == "RUNNING"
    states = {
        r.machine_name: r.state for r in fleet_status(seeded_engine, now=NOW, stale_after_seconds=5)
    }
    assert states["vm-a"] == "STALE"


def test_status_as_dict_is_json_ready(seeded_engine):
    a = next(r for r in fleet_status(seeded_engine, now=NOW) if r.machine_name == "vm-a")
    d = a.as_dict()
    assert d["last_heartbeat"] == "2026-12-03T12:29:50Z"
    assert d["start_time"] == "2026-12-03T12:20:00Z"
    assert d["ipfs_success_percent"] == 98.333
    assert d["state"] == "RUNNING"


def test_active_sessions(seeded_engine):
    got = active_sessions(seeded_engine, now=NOW)
    assert [(s.session_id, s.machine_name, s.total_records_processed, s.stale) for s in got] == [
        ("a-2", "vm-a", 6000, False),
        ("b-1", "vm-b", 1000, True),
    ]
    assert got[0].current_rate == 10.0
    assert got[1].current_rate == pytest.approx(1000 / 3600)
    assert got[0].as_dict()["start_time"] == "2026-12-03T12:20:00Z"


def test_error_patterns_last_24_hours(seeded_engine):
    got = [
        (
            p.machine_name,
            p.source_ip,
            p.total_records,
            p.ipfs_success,
            p.ipfs_failed,
            p.validation_errors,
        )
        for p in error_patterns(seeded_engine, hours=24, now=NOW)
    ]
    assert got == [
        ("vm-a", "203.0.113.10", 8, 6, 2, 1),
        ("vm-b", "203.0.113.11", 5, 4, 1, 1),
        ("vm-c", "203.0.113.12", 5, 5, 0, 0),
    ]


def test_error_patterns_window(seeded_engine):
    six = {p.machine_name: p.total_records for p in error_patterns(seeded_engine, hours=6, now=NOW)}
    assert six == {"vm-a": 8, "vm-b": 5, "vm-c": 3}
    two_days = error_patterns(seeded_engine, hours=48, now=NOW)
    assert {p.machine_name: p.total_records for p in two_days} == {"vm-a": 15, "vm-b": 5, "vm-c": 5}
    assert error_patterns(seeded_engine, hours=24, now=NOW + timedelta(days=30)) == []


def test_hourly_records(seeded_engine):
    got = [(b.hour, b.records_processed) for b in hourly_records(seeded_engine, hours=24, now=NOW)]
    assert got == [
        (datetime(2026, 12, 2, 13, tzinfo=UTC), 2),
        (datetime(2026, 12, 3, 9, tzinfo=UTC), 3),
        (datetime(2026, 12, 3, 11, tzinfo=UTC), 5),
        (datetime(2026, 12, 3, 12, tzinfo=UTC), 8),
    ]
    b = hourly_records(seeded_engine, hours=24, now=NOW)[-1]
    assert b.avg_records_per_minute == pytest.approx(8 / 60)
    assert b.as_dict() == {
        "hour": "2026-12-03T12:00:00Z",
        "records_processed": 8,
        "avg_records_per_minute": 0.133,
    }


def test_hourly_records_fill_gaps(seeded_engine):
    got = hourly_records(seeded_engine, hours=24, now=NOW, fill_gaps=True)
    assert len(got) == 25  # 12:00 yesterday .. 12:00 today
    assert got[0].hour == datetime(2026, 12, 2, 12, tzinfo=UTC)
    assert got[-1].hour == datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert sum(b.records_processed for b in got) == 18
    assert [b.records_processed for b in got if b.hour.hour == 10] == [0]


def test_recent_errors_redacts_and_truncates(tmp_path):
    from .conftest import insert, new_sqlite

    engine = sa.create_engine(new_sqlite(tmp_path / "c.db", seeded=False))
    try:
        insert(engine, "SyncSessions", [
            session("x-1", "vm-x", "198.51.100.1", "FAILED", start_time=NOW, end_time=NOW,
                    error_summary="cannot reach postgresql://ops:hunter2@db.example/x"),
            session("x-2", "vm-x", "198.51.100.1", "FAILED", start_time=NOW - timedelta(hours=1),
                    end_time=NOW - timedelta(hours=1), error_summary="E" * 2000),
        ])  # fmt: skip
        got = recent_errors(engine, now=NOW)
        assert got[0].message == "cannot reach postgresql://ops:***@db.example/x"
        assert len(got[1].message) == 500 and got[1].message.endswith("…")
    finally:
        engine.dispose()


def test_recent_errors(seeded_engine):
    got = recent_errors(seeded_engine, limit=10, now=NOW)
    # newest first: two vm-a fetch errors at 12:10, vm-d's session (ended 11:23:20), its
    # database (11:21:40), vm-b's fetch error at 11:00
    assert [(e.source, e.machine_name) for e in got] == [
        ("token", "vm-a"),
        ("token", "vm-a"),
        ("session", "vm-d"),
        ("database", "vm-d"),
        ("token", "vm-b"),
    ]
    assert {got[0].where, got[1].where} == {"node1/Qmvm-a0006", "node1/Qmvm-a0007"}
    assert got[0].message == "timeout: 30s"
    assert (got[2].where, got[2].message) == ("d-1", "node7: database disk image is malformed")
    assert (got[3].where, got[3].message) == (
        "/srv/node7/Rubix/rubix.db",
        "database disk image is malformed",
    )
    assert got[4].message == "not_found: block missing"
    assert len(recent_errors(seeded_engine, limit=2, now=NOW)) == 2
    assert [e.source for e in recent_errors(seeded_engine, now=NOW + timedelta(days=2))] == [
        "session",
        "database",
    ]


@pytest.mark.parametrize(
    ("dialect", "aware", "fragments"),
    [
        (
            "mssql",
            False,
            [
                "dateadd(hour, datediff(hour, 0, [TokenRecords].synced_at), 0) AS hour_start",
                "GROUP BY dateadd(hour, datediff(hour, 0, [TokenRecords].synced_at), 0)",
                "[TokenRecords].synced_at > :param_1",
            ],
        ),
        ("mssql", True, ["CAST(switchoffset([TokenRecords].synced_at, '+00:00') AS DATETIME2)"]),
        (
            "postgresql",
            False,
            [
                "date_trunc('hour', \"TokenRecords\".synced_at)",
                "GROUP BY date_trunc('hour', \"TokenRecords\".synced_at)",
            ],
        ),
        ("postgresql", True, ["date_trunc('hour', timezone('UTC', \"TokenRecords\".synced_at))"]),
        (
            "sqlite",
            False,
            [
                "strftime('%Y-%m-%d %H:00:00', \"TokenRecords\".synced_at)",
                '"TokenRecords".synced_at > ?',
            ],
        ),
    ],
    ids=["mssql", "mssql-offset", "postgresql", "postgresql-tz", "sqlite"],
)
def test_hourly_statement_renders(dialect, aware, fragments):
    d = {"mssql": mssql.dialect(), "postgresql": postgresql.dialect(), "sqlite": sqlite.dialect()}[
        dialect
    ]
    sql = str(reports.hourly_query(dialect, NOW, aware=aware).compile(dialect=d))
    for f in fragments:
        assert f in sql, sql


def test_all_statements_render_for_mssql():
    d = mssql.dialect()
    sql = str(reports.error_patterns_query("mssql", NOW).compile(dialect=d))
    assert "sum(CASE WHEN ([TokenRecords].ipfs_fetched = 1) THEN :param_1 ELSE :param_2 END)" in sql
    assert "GROUP BY [TokenRecords].machine_name, [TokenRecords].source_ip" in sql
    assert "ORDER BY count(*) DESC" in sql
    for source, q in reports.recent_errors_queries("mssql", NOW, 15):
        sql = str(q.compile(dialect=d))
        assert sql.startswith("SELECT TOP __[POSTCOMPILE_param_1]"), (source, sql)
    sql = str(reports.recent_errors_queries("mssql", NOW, 15)[0][1].compile(dialect=d))
    assert "coalesce([SyncSessions].end_time, [SyncSessions].last_heartbeat" in sql
    sql = str(latest_sessions_query().compile(dialect=d))
    assert "max([SyncSessions].start_time) AS newest" in sql
    assert "JOIN (SELECT" in sql


def test_unknown_dialect_is_a_config_error():
    from rubix_sync.errors import ConfigError
    from rubix_sync.fleet._db import capabilities

    with pytest.raises(ConfigError, match="do not support 'oracle'"):
        capabilities("oracle")


def test_reports_on_empty_tables(tmp_path):
    from .conftest import new_sqlite

    engine = sa.create_engine(new_sqlite(tmp_path / "empty.db", seeded=False))
    try:
        assert fleet_status(engine, now=NOW) == []
        assert active_sessions(engine, now=NOW) == []
        assert error_patterns(engine, now=NOW) == []
        assert hourly_records(engine, now=NOW) == []
        assert len(hourly_records(engine, hours=3, now=NOW, fill_gaps=True)) == 4
        assert recent_errors(engine) == []
    finally:
        engine.dispose()
