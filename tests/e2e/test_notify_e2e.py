"""Issue #5 acceptance: a real `rubix-sync run` posts the guide's messages to a loopback Bot API.

The stand-in (tests/notify/botapi_server.py) records every sendMessage; the sync runs as an
operator runs it (a subprocess of ``python -m rubix_sync run``). Expected texts are built with
the pure functions of ``rubix_sync.notify.messages`` only for their dynamic parts (times and
durations, read back from the run's JSON event stream); the numbers come from the demo
deployment's own description and are asserted literally as well.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from notify.botapi_server import BotApiServer
from rubix_sync.cli import main
from rubix_sync.demo import DeploymentInfo, make_deployment
from rubix_sync.notify import messages
from rubix_sync.notify.base import MachineIdentity

TOKEN = "987654:E2E-secret_token_ZYXWVUTSRQPONMLKJ0123456"
CHAT = "-1009876543210"
VM = MachineIdentity("Demo-VM", "127.0.0.1")
HEAD = "🖥️ Demo-VM (127.0.0.1)\n"
MIN_RECORDS = 30  # database_completed_min_records: the 60-token nodes qualify, the 12-token one not
FLUSH = 1.0  # flush_timeout of the run


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, DeploymentInfo, DeploymentInfo]:
    root = tmp_path_factory.mktemp("tg-nodes")
    big = make_deployment(root / "big", nodes=2, tokens_per_node=60, faults=True, seed=21)
    small = make_deployment(root / "small", nodes=1, tokens_per_node=12, faults=False, seed=22)
    return root, big, small


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """Environment of the subprocess: no user config dir, no RUBIX_SYNC_* from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUBIX_SYNC_")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        RUBIX_SYNC_DETECT_PUBLIC_IP="false",
        COLUMNS="200",
    )
    for k in [k for k in env if k.lower().endswith("_proxy")]:
        del env[k]
    return env


def write_config(path: Path, api_base_url: str, **extra: Any) -> Path:
    data: dict[str, Any] = {
        "bot_token": TOKEN,
        "chat_id": CHAT,
        "enabled": True,
        # the sync's --machine-name/--public-ip must win over these
        "machine_name": "Config-VM",
        "public_ip": "198.51.100.7",
        "api_base_url": api_base_url,
        "database_completed_min_records": MIN_RECORDS,
        "flush_timeout": FLUSH,
        "request_timeout": 10.0,
        "rate_limit_per_minute": 6000,
        "rate_limit_burst": 100,
        **extra,
    }
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


def run_sync(
    root: Path, work: Path, env: dict[str, str], name: str, telegram: Path | None
) -> tuple[subprocess.CompletedProcess[str], float, Path]:
    """`rubix-sync run` into a fresh central database; (process, wall seconds, logs dir)."""
    logs = work / f"logs-{name}"
    args = [
        sys.executable,
        "-m",
        "rubix_sync",
        "run",
        "--root",
        str(root),
        "--database",
        f"sqlite:///{work / f'central-{name}.db'}",
        "--logs-dir",
        str(logs),
        "--machine-name",
        "Demo-VM",
        "--public-ip",
        "127.0.0.1",
        "--no-progress",
        "--workers",
        "2",
        "--batch-size",
        "25",
    ]
    if telegram is not None:
        args += ["--telegram-config", str(telegram)]
    t0 = time.monotonic()
    proc = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    return proc, time.monotonic() - t0, logs


def events(logs: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in sorted(logs.glob("sync_events_*.jsonl")):
        out += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return out


def expected_messages(evs: list[dict[str, Any]]) -> list[str]:
    """What the listener must send for this event stream (a run far shorter than the 60 s
    coalescing window and the 300 s progress interval): the first error of each type at once,
    the rest of each type as one summary just before SYNC COMPLETED."""
    out: list[str] = []
    held: dict[str, list[tuple[str, str, dict[str, object], float]]] = {}
    for e in evs:
        kind = e["event"]
        if kind == "session_started":
            out.append(messages.startup_message(VM, started_at=e["ts"], database_kind="sqlite"))
        elif kind in ("fetch_failed", "error"):
            if kind == "fetch_failed":
                etype = "timeout" if e["reason"] == "timeout" else "ipfs"
                text = f"{e['reason']}: {e['detail']}"
                ctx: dict[str, object] = {
                    "node": e["node"],
                    "token_type": e["token_type"],
                    "token_id": e["token_id"],
                    "correlation_id": e["correlation_id"],
                }
            else:
                etype, text = e["error_type"], e["message"]
                ctx = {**e["context"], "correlation_id": e["correlation_id"]}
            if etype in held:
                held[etype].append((etype, text, ctx, e["ts"]))
            else:
                held[etype] = []
                out.append(
                    messages.error_message(
                        VM, error_type=etype, message=text, at=e["ts"], context=ctx
                    )
                )
        elif kind == "database_finished":
            if e["status"] == "COMPLETED" and e["records"] >= MIN_RECORDS:
                out.append(
                    messages.database_completed_message(
                        VM,
                        name=e["node"],
                        records=e["records"],
                        duration_seconds=e["duration_seconds"],
                        ipfs_success=e["ipfs_success"],
                        ipfs_failed=e["ipfs_failed"],
                    )
                )
        elif kind == "session_finished":
            for items in held.values():
                if items:
                    etype, text, ctx, at = items[0]
                    out.append(
                        messages.error_message(
                            VM,
                            error_type=etype,
                            message=text,
                            at=at,
                            context=ctx,
                            more=len(items) - 1,
                            window_seconds=60.0,
                        )
                    )
            c = e["counters"]
            out.append(
                messages.completion_message(
                    VM,
                    duration_seconds=e["duration_seconds"],
                    databases=c["databases_done"],
                    records=c["records"],
                    ipfs_success=c["ipfs_success"],
                    ipfs_failed=c["ipfs_failed"],
                    sql_errors=c["sql_errors"],
                    errors=c["ipfs_failed"] + c["validation_failed"] + c["errors"],
                    status=e["status"],
                    failures=e["failures"],
                )
            )
    return out


def heading(text: str) -> str:
    m = re.search(r"<b>(.*?)</b>", text)
    assert m, text
    return m.group(1)


def assert_no_token(*texts: str) -> None:
    secret = TOKEN.split(":", 1)[1]
    for text in texts:
        assert TOKEN not in text
        assert secret not in text


def log_text(logs: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(logs.iterdir()))


def test_demo_sync_posts_the_guides_messages(deployment, tmp_path: Path, home) -> None:
    root, big, small = deployment
    with BotApiServer(token=TOKEN) as api:
        cfg = write_config(tmp_path / "telegram_config.json", api.url)
        proc, _, logs = run_sync(root, tmp_path, home, "tg", cfg)
        texts = api.texts
        sent = [r for r in api.messages]
    assert proc.returncode == 1, proc.stderr  # planted faults: finished, some failed
    assert "Traceback" not in proc.stderr
    assert "Warning" not in proc.stderr  # chmod 600: no permission warning
    assert all(r.params["chat_id"] == CHAT and r.params["parse_mode"] == "HTML" for r in sent)

    # -- literal: who, which headings in which order, the numbers of the deployment ----------
    assert texts, "no message reached the Bot API"
    assert all(t.startswith(HEAD + "<b>") for t in texts), texts
    heads = [heading(t) for t in texts]
    assert heads[0] == "🚀 SYNC STARTED"
    assert heads[-1] == "✅ SYNC COMPLETED"
    assert "📊 SYNC PROGRESS" not in heads  # the first one is due after 300 s
    assert heads.count("📁 DATABASE COMPLETED") == big.total_databases - len(big.corrupt_nodes)
    # errors: the first fetch failure and the corrupt database at once, the other fetch
    # failures as one coalesced summary right before SYNC COMPLETED
    assert heads.count("❌ ERROR DETECTED") == 3
    assert heads[-2] == "❌ ERROR DETECTED"
    fetch_failed = big.expected_ipfs_failed
    assert f"… and {fetch_failed - 2} more ipfs errors in the last 60 s" in texts[-2]
    assert "Type: Distributed Token Sync - SQLite Database" in texts[0]
    assert "Status: Initializing..." in texts[0]
    db_done = [t for t in texts if heading(t) == "📁 DATABASE COMPLETED"]
    for t in db_done:
        assert "Records: 60\n" in t and "IPFS Rate: 96.7%" in t  # 58 of 60 fetched
    assert not any("small" in t for t in db_done)  # 12 records: below the threshold
    planted_fetch = {
        tok for kind in ("missing_block", "tampered_block") for _n, tok in big.faults[kind]
    }
    errors = [t for t in texts if heading(t) == "❌ ERROR DETECTED"]
    ipfs_errors = [t for t in errors if "Type: ipfs\n" in t]
    assert len(ipfs_errors) == 2
    for t in ipfs_errors:
        token = re.search(r"token_id: (\w+)", t)
        assert token and token.group(1) in planted_fetch
    corrupt = [t for t in errors if "Type: database\n" in t]
    assert len(corrupt) == 1 and "is not an SQLite database" in corrupt[0]
    records = big.total_tokens + small.total_tokens
    ipfs_ok = records - fetch_failed
    final = texts[-1]
    for fragment in (
        f"Databases: {big.total_databases + small.total_databases}\n",
        f"Records: {records:,}\n",
        f"├─ IPFS: {100.0 * ipfs_ok / records:.1f}%\n",
        "└─ SQL: 100.0%\n",
        # failed fetches + failed validations + one ErrorOccurred (the corrupt database)
        f"Errors: {fetch_failed + big.expected_validation_failed + 1:,}</pre>",
        "Failures:\n<pre>",
        "is not an SQLite database",
    ):
        assert fragment in final, (fragment, final)

    # -- exact: every message, in order, against the run's own event stream ------------------
    evs = events(logs)
    finished = [e for e in evs if e["event"] == "session_finished"]
    assert len(finished) == 1
    c = finished[0]["counters"]
    assert (c["records"], c["ipfs_failed"], c["databases_failed"]) == (records, fetch_failed, 1)
    assert texts == expected_messages(evs)
    assert_no_token(proc.stdout, proc.stderr, log_text(logs))


def dead_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed on exit: nothing listens there


@pytest.mark.parametrize("failure", ["nothing-listening", "stall"])
def test_dead_bot_api_adds_at_most_the_flush_wait(
    deployment, tmp_path: Path, home, failure: str
) -> None:
    root, _big, _small = deployment
    base, base_time, _ = run_sync(root, tmp_path, home, "plain", None)
    assert base.returncode == 1, base.stderr
    with BotApiServer(token=TOKEN) as api:
        if failure == "stall":
            api.set_mode("stall", delay=60.0)  # answers nothing for a minute
            url = api.url
        else:
            url = f"http://127.0.0.1:{dead_port()}"
        cfg = write_config(tmp_path / "telegram_config.json", url)
        proc, wall, logs = run_sync(root, tmp_path, home, "dead", cfg)
        delivered = api.texts
    assert delivered == []
    # the same exit code and summary as without Telegram
    assert proc.returncode == base.returncode, proc.stderr
    assert "Records: " in proc.stdout and "Traceback" not in proc.stderr
    # without the bound: 10 s request timeouts or 1+2+4+8 s of retries per message
    margin = 4.0  # two cores shared with other test runs: timing is noisy
    assert wall <= base_time + FLUSH + margin, (wall, base_time)
    main_log = "".join(p.read_text() for p in logs.glob("sync_main_*.log"))
    undelivered = re.search(r"WARNING - .* (\d+) notification\(s\) not delivered", main_log)
    assert undelivered, main_log[-2000:]
    assert int(undelivered.group(1)) >= 1
    assert main_log.count("notification(s) not delivered") == 1  # reported once, at the end
    assert_no_token(proc.stdout, proc.stderr, log_text(logs))


def test_notify_test_command_against_the_stand_in(tmp_path: Path, home, monkeypatch) -> None:
    monkeypatch.setenv("HOME", home["HOME"])
    monkeypatch.setenv("XDG_CONFIG_HOME", home["XDG_CONFIG_HOME"])
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    with BotApiServer(token=TOKEN) as api:
        cfg = write_config(tmp_path / "telegram_config.json", api.url)
        ok = runner.invoke(main, ["notify", "test", "--config", str(cfg)])
        assert ok.exit_code == 0, ok.output
        assert "getMe: OK (bot @rubix_sync_test_bot)" in ok.output
        assert f"Test message delivered to chat {CHAT}." in ok.output
        assert [r.method for r in api.requests] == ["getMe", "sendMessage"]
        assert api.texts[0].startswith("🖥️ Config-VM (198.51.100.7)\n<b>🔔 TEST MESSAGE</b>")

        api.reset()
        api.set_mode("401")
        bad = runner.invoke(main, ["notify", "test", "--config", str(cfg)])
        assert bad.exit_code == 1, bad.output
        assert "Error: Telegram test failed at getMe" in bad.output
        assert "401" in bad.output
        assert api.texts == []
    assert_no_token(ok.output, bad.output)
