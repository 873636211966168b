"""Apprise channel: the same events as plain text, to a json:// target on the stand-in."""

from __future__ import annotations

import builtins
import json

import pytest

from rubix_sync.errors import ConfigError, MissingDependencyError
from rubix_sync.events import ErrorOccurred, SessionStarted
from rubix_sync.notify import messages
from rubix_sync.notify.base import MachineIdentity
from rubix_sync.notify.listener import NotificationListener, build_notifiers

from .botapi_server import BotApiServer

pytest.importorskip("apprise")

VM = MachineIdentity("vm-1", "203.0.113.12")


def test_events_go_to_telegram_and_apprise(botapi: BotApiServer, make_config) -> None:
    host = botapi.url.removeprefix("http://")
    cfg = make_config(apprise_urls=[f"json://{host}/hook"])
    notifiers = build_notifiers(cfg, VM)
    assert [n.channel for n in notifiers] == ["telegram", "apprise"]  # type: ignore[attr-defined]
    assert f"json://{host}" not in repr(notifiers[1]) and "hook" not in repr(cfg)
    listener = NotificationListener(notifiers, cfg, VM)
    listener(SessionStarted(session_id="s", machine_name="x", public_ip=None, total_databases=1,
                            roots=(), database_kind="sqlite", ts=0.0))  # fmt: skip
    listener(ErrorOccurred(error_type="ipfs", message="<boom> & bust", ts=0.0))
    reports = listener.close()
    assert [r.sent for r in reports] == [2, 2]
    assert len(botapi.texts) == 2
    posts = [json.loads(body) for path, body in botapi.other]
    assert [p["title"] for p in posts] == ["🖥️ vm-1 (203.0.113.12)"] * 2
    assert posts[0]["message"] == (
        "🚀 SYNC STARTED\nType: Distributed Token Sync - SQLite Database\n"
        "Time: 1970-01-01 00:00:00 UTC\nStatus: Initializing..."
    )
    assert (
        posts[1]["message"]
        == "❌ ERROR DETECTED\nType: ipfs\nTime: 00:00:00\nMessage: <boom> & bust"
    )
    assert messages.error_message(VM, error_type="ipfs", message="<boom> & bust", at=0.0) in (
        botapi.texts
    )


def test_apprise_failure_reported_not_raised(botapi: BotApiServer, make_config) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    from rubix_sync.notify.apprise_channel import AppriseNotifier

    n = AppriseNotifier([f"json://127.0.0.1:{port}/x"], flush_timeout=2)
    n.send("<b>x</b>", kind="error")
    report = n.close()
    assert report.failed == 1 and report.sent == 0
    assert "apprise: at least one URL did not accept the message" in report.reasons


def test_bad_apprise_url_is_a_config_error() -> None:
    from rubix_sync.notify.apprise_channel import AppriseNotifier

    with pytest.raises(ConfigError, match="apprise_urls entry 1"):
        AppriseNotifier(["definitely-not-a-url"])


def test_missing_apprise_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from rubix_sync.notify import apprise_channel

    real_import = builtins.__import__

    def no_apprise(name: str, *args, **kw):
        if name == "apprise":
            raise ImportError("No module named 'apprise'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_apprise)
    with pytest.raises(MissingDependencyError, match=r"pip install 'rubix-sync\[apprise\]'"):
        apprise_channel.AppriseNotifier(["json://127.0.0.1:9/x"])
