"""The fleet commands through click's CliRunner: exact output fragments and exit codes."""

from __future__ import annotations

import json
import re
import socket

import click
import pytest
from click.testing import CliRunner

from rubix_sync.fleet.cli import COMMANDS

from .conftest import new_sqlite

STATUS_HEADER = (
    "MACHINE  IP            STATE        PROGRESS  RECORDS    RATE     ETA  IPFS OK   VALID"
    "  ERRORS  HEARTBEAT"
)


def cli(*args: str, env: dict[str, str] | None = None):
    group = click.Group("rubix-sync", commands=list(COMMANDS))
    return CliRunner().invoke(group, list(args), env=env, catch_exceptions=False)


def test_status_plain_table(live_url):
    r = cli("status", "--database", live_url)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == STATUS_HEADER
    assert [ln.split()[0] for ln in lines[1:]] == ["vm-a", "vm-b", "vm-c", "vm-d", "vm-e"]
    assert lines[1].startswith("vm-a     203.0.113.10  RUNNING      4/10 40%    6,000")
    assert "  98.3%   99.0%     102  " in lines[1]
    assert lines[2].startswith("vm-b     203.0.113.11  STALE         2/5 40%    1,000   0.6/s")
    assert lines[3] == (
        "vm-c     203.0.113.12  COMPLETED    5/5 100%    3,600   1.0/s       -   100.0%  100.0%"
        "       0  1h00m ago"
    )
    assert lines[4] == (
        "vm-d     203.0.113.13  FAILED        1/3 33%      200   0.2/s       -    75.0%   90.0%"
        "      55  1h06m ago"
    )
    assert lines[5].startswith(
        "vm-e     203.0.113.14  INTERRUPTED    0/4 0%        0   0.0/s       -        -       -"
    )


def test_status_json(live_url):
    r = cli("status", "--database", live_url, "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert {m["machine_name"]: m["state"] for m in data} == {
        "vm-a": "RUNNING",
        "vm-b": "STALE",
        "vm-c": "COMPLETED",
        "vm-d": "FAILED",
        "vm-e": "INTERRUPTED",
    }
    a = data[0]
    assert (a["databases_done"], a["total_databases"], a["records"], a["errors"]) == (
        4,
        10,
        6000,
        102,
    )
    assert a["last_heartbeat"].endswith("Z")


@pytest.mark.postgres
def test_status_and_sessions_on_postgresql(pg_url):
    r = cli("status", "--database", pg_url, "--format", "json")
    assert r.exit_code == 0, r.output
    assert {m["machine_name"]: (m["session_id"], m["records"]) for m in json.loads(r.output)} == {
        "vm-a": ("a-2", 6000),
        "vm-b": ("b-1", 1000),
        "vm-c": ("c-1", 3600),
        "vm-d": ("d-1", 200),
        "vm-e": ("e-1", 0),
    }
    r = cli("report", "sessions", "--database", pg_url, "--format", "json")
    assert [s["session_id"] for s in json.loads(r.output)] == ["a-2", "b-1"]


def test_status_stale_after_flag(live_url):
    r = cli("status", "--database", live_url, "--stale-after", "7200", "--format", "json")
    states = {m["machine_name"]: m["state"] for m in json.loads(r.output)}
    assert states["vm-b"] == "RUNNING"


def test_status_database_from_env(live_url):
    r = cli("status", "--format", "json", env={"RUBIX_SYNC_DATABASE_URL": live_url})
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)) == 5


def test_status_watch_refreshes(live_url):
    r = cli("status", "--database", live_url, "--watch", "0.5", "--refreshes", "2")
    assert r.exit_code == 0, r.output
    assert r.output.count(STATUS_HEADER) == 2
    assert r.output.count("rubix-sync fleet, ") == 2
    r = cli(
        "status", "--database", live_url, "--watch", "0.5", "--refreshes", "2", "--format", "json"
    )
    frames = [json.loads(line) for line in r.output.splitlines()]
    assert [len(f) for f in frames] == [5, 5]


def test_default_database_missing_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("status")
    assert r.exit_code == 2
    assert r.output == (
        f"Error: Central database {str(tmp_path / 'rubix_sync.db')!r} does not exist. Run "
        "'rubix-sync run' first or pass --database URL (or $RUBIX_SYNC_DATABASE_URL).\n"
    )
    assert not (tmp_path / "rubix_sync.db").exists()  # a read-only view creates nothing


def test_unreachable_database_exit_2_without_password():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://fleet:examplepw1@127.0.0.1:{port}/nothing"
    for args in (["status"], ["report", "errors"], ["dashboard"]):
        r = cli(*args, "--database", url)
        assert r.exit_code == 2, r.output
        assert len(r.output.splitlines()) == 1
        assert r.output.startswith("Error: Cannot use the central database ")
        assert "examplepw1" not in r.output
        assert "***" in r.output


@pytest.mark.parametrize("command", [["status"], ["report", "sessions"], ["report", "hourly"]])
def test_empty_database_exit_2(tmp_path, command):
    url = new_sqlite(tmp_path / "empty.db", seeded=False)
    r = cli(*command, "--database", url)
    assert r.exit_code == 2
    assert r.output == (
        f"Error: No sync sessions yet in {url}: run 'rubix-sync run' against it first.\n"
    )


def test_sqlite_file_without_tables_exit_2(tmp_path):
    import sqlite3

    path = tmp_path / "blank.db"
    sqlite3.connect(path).close()
    r = cli("status", "--database", f"sqlite:///{path}")
    assert r.exit_code == 2
    assert r.output.startswith("Error: No sync sessions yet in ")


def test_not_a_database_exit_2(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    r = cli("status", "--database", f"sqlite:///{path}")
    assert r.exit_code == 2
    assert len(r.output.splitlines()) == 1
    assert "file is not a database" in r.output


def test_bad_url_exit_2():
    r = cli("status", "--database", "nosuchdb://x")
    assert r.exit_code == 2
    assert r.output.startswith("Error: Unsupported database URL scheme 'nosuchdb'")


def test_report_sessions(live_url):
    r = cli("report", "sessions", "--database", live_url)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert (
        lines[0] == "SESSION  MACHINE  IP            STARTED (UTC)        RECORDS    RATE  STATUS"
    )
    assert lines[1].startswith("a-2      vm-a     203.0.113.10  ")
    assert re.search(r"   6,000  (10\.0|9\.\d)/s  RUNNING$", lines[1]), lines[1]
    assert lines[2].startswith("b-1      vm-b     203.0.113.11  ")
    assert lines[2].endswith("   1,000   0.3/s  STALE")
    assert len(lines) == 3


def test_report_errors(live_url):
    r = cli("report", "errors", "--database", live_url)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "MACHINE  IP            RECORDS  IPFS OK  IPFS FAILED  VALIDATION ERRORS",
        "vm-a     203.0.113.10        8        6            2                  1",
        "vm-b     203.0.113.11        5        4            1                  1",
        "vm-c     203.0.113.12        5        5            0                  0",
    ]
    r = cli("report", "errors", "--database", live_url, "--hours", "48", "--format", "json")
    data = json.loads(r.output)
    assert data[0] == {
        "machine_name": "vm-a",
        "source_ip": "203.0.113.10",
        "total_records": 15,
        "ipfs_success": 13,
        "ipfs_failed": 2,
        "validation_errors": 1,
    }


def test_report_hourly(live_url):
    r = cli("report", "hourly", "--database", live_url, "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert sum(b["records_processed"] for b in data) == 18
    assert all(b["hour"].endswith(":00:00Z") for b in data)
    r = cli("report", "hourly", "--database", live_url, "--hours", "2")
    lines = r.output.splitlines()
    assert lines[0] == "HOUR (UTC)        RECORDS  PER MINUTE"
    assert sum(int(ln.split()[2]) for ln in lines[1:]) == 13  # vm-a's 8 + vm-b's 5


def test_report_nothing_in_window(tmp_path):
    from datetime import timedelta

    url = new_sqlite(tmp_path / "old.db", live=True, shift=timedelta(hours=-48))
    r = cli("report", "errors", "--database", url, "--hours", "1")
    assert r.exit_code == 0
    assert r.output == "No records synced in the last 1 hours.\n"


def test_dashboard_refuses_public_bind_without_auth(live_url):
    r = cli("dashboard", "--database", live_url, "--host", "0.0.0.0")
    assert r.exit_code == 2
    assert r.output == (
        "Error: Refusing to serve the dashboard on 0.0.0.0 without access control: pass --token "
        "TOKEN or --basic-auth USER:PASS (or bind --host 127.0.0.1).\n"
    )


def test_dashboard_port_in_use(live_url):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("dashboard", "--database", live_url, "--port", str(port))
    assert r.exit_code == 2
    assert r.output == f"Error: Port {port} on 127.0.0.1 is in use: pick another with --port.\n"


def test_dashboard_bad_basic_auth(live_url):
    r = cli("dashboard", "--database", live_url, "--basic-auth", "justuser")
    assert r.exit_code == 2
    assert r.output == "Error: --basic-auth must be USER:PASSWORD, both non-empty.\n"


def test_every_command_has_help():
    for args in (
        ["status"],
        ["report"],
        ["report", "sessions"],
        ["report", "errors"],
        ["report", "hourly"],
        ["dashboard"],
    ):
        r = cli(*args, "--help")
        assert r.exit_code == 0
        assert "--database" in r.output or args == ["report"]
    r = cli("dashboard", "--help", env={"RUBIX_SYNC_DASHBOARD_TOKEN": "tok-very-secret"})
    assert "tok-very-secret" not in r.output
