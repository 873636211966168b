"""The guide's Python API and the ``notify`` CLI, against the stand-in Bot API."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rubix_sync.notify import api
from rubix_sync.notify.cli import notify

from .botapi_server import BotApiServer
from .conftest import CHAT, TOKEN


def _write_config(path: Path, botapi: BotApiServer, mode: int = 0o600, **kw: Any) -> Path:
    data: dict[str, Any] = {
        "bot_token": TOKEN,
        "chat_id": CHAT,
        "machine_name": "vm-1",
        "public_ip": "203.0.113.12",
        "api_base_url": botapi.url,
        "request_timeout": 1,
        "flush_timeout": 1,
        "max_attempts": 2,
        "rate_limit_per_minute": 6000,
        "rate_limit_burst": 100,
    }
    data.update(kw)
    path.write_text(json.dumps(data))
    path.chmod(mode)
    return path


@pytest.fixture(autouse=True)
def _no_default() -> Iterator[None]:
    api.set_default_notifier(None)
    yield
    api.set_default_notifier(None)


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- Python API ---------------------------------------------------------------------------


def test_init_returns_none_without_config_or_when_disabled(
    hermetic: Path, botapi: BotApiServer
) -> None:
    assert api.init_telegram_notifier() is None
    assert api.notify_error("custom", "x") is False
    assert api.send_message("x") is False
    _write_config(hermetic / "telegram_config.json", botapi, enabled=False)
    assert api.init_telegram_notifier() is None


def test_guide_flow(hermetic: Path, botapi: BotApiServer) -> None:
    _write_config(hermetic / "telegram_config.json", botapi)
    notifier = api.init_telegram_notifier()
    assert notifier is not None
    assert notifier.test_connection() is True
    assert notifier.send_message("Test message from sync system") is True
    assert api.send_message("module level") is True
    assert api.notify_error("custom", "Custom alert message",
                            {"vm_id": "special-vm", "custom_data": "value"}) is True  # fmt: skip
    notifier.flush(2)
    texts = botapi.texts
    assert texts[1] == "🖥️ vm-1 (203.0.113.12)\nTest message from sync system"
    assert texts[2] == "🖥️ vm-1 (203.0.113.12)\nmodule level"
    assert texts[3].startswith(
        "🖥️ vm-1 (203.0.113.12)\n<b>❌ ERROR DETECTED</b>\n<pre>Type: custom\n"
    )
    assert texts[3].endswith(
        "Message: Custom alert message</pre>\nContext:\n<pre>vm_id: special-vm\n"
        "custom_data: value</pre>"
    )


def test_module_functions_find_config_themselves(hermetic: Path, botapi: BotApiServer) -> None:
    _write_config(hermetic / "telegram_config.json", botapi)
    assert api.send_message("hello") is True
    assert botapi.texts == ["🖥️ vm-1 (203.0.113.12)\nhello"]


def test_test_connection_false_against_401(hermetic: Path, botapi: BotApiServer) -> None:
    _write_config(hermetic / "telegram_config.json", botapi)
    notifier = api.init_telegram_notifier()
    assert notifier is not None
    botapi.set_mode("401")
    assert notifier.test_connection() is False
    assert notifier.send_message("x") is False


# -- CLI ----------------------------------------------------------------------------------


def _run(*args: str) -> Any:
    return CliRunner().invoke(notify, list(args), catch_exceptions=False)


def test_cli_test_success(tmp_path: Path, botapi: BotApiServer) -> None:
    cfg = _write_config(tmp_path / "tg.json", botapi)
    result = _run("test", "--config", str(cfg))
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"getMe: OK (bot @rubix_sync_test_bot)\nTest message delivered to chat {CHAT}.\n"
    )
    assert [r.method for r in botapi.requests] == ["getMe", "sendMessage"]
    assert "🔔 TEST MESSAGE" in botapi.texts[0]
    assert TOKEN not in result.output


def test_cli_test_401_exits_1(tmp_path: Path, botapi: BotApiServer, caplog) -> None:
    cfg = _write_config(tmp_path / "tg.json", botapi)
    botapi.set_mode("401")
    result = _run("test", "--config", str(cfg))
    assert result.exit_code == 1
    assert result.output == "Error: Telegram test failed at getMe: getMe: HTTP 401 Unauthorized\n"
    assert TOKEN not in result.output and TOKEN not in caplog.text


def test_cli_test_unreachable_exits_1(tmp_path: Path, botapi: BotApiServer, caplog) -> None:
    cfg = _write_config(tmp_path / "tg.json", botapi,
                        api_base_url=f"http://127.0.0.1:{_dead_port()}")  # fmt: skip
    result = _run("test", "--config", str(cfg))
    assert result.exit_code == 1
    assert result.output.startswith("Error: Telegram test failed at getMe: getMe: network error")
    assert TOKEN not in result.output and TOKEN not in caplog.text


def test_cli_exit_2_without_or_with_bad_config(tmp_path: Path, botapi: BotApiServer) -> None:
    result = _run("test")
    assert result.exit_code == 2
    assert result.output.startswith("Error: no Telegram config found (looked in ")
    assert "RUBIX_SYNC_TELEGRAM_BOT_TOKEN" in result.output

    bad = tmp_path / "bad.json"
    bad.write_text('{"bot_token": "' + TOKEN + '", "chat_id": 1, "enabled": "perhaps"}')
    result = _run("test", "--config", str(bad))
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: Telegram config {bad}: enabled:")
    assert result.output.count("\n") == 1
    assert TOKEN not in result.output

    result = _run("send", "hi", "--config", str(tmp_path / "missing.json"))
    assert result.exit_code == 2 and "does not exist" in result.output
    assert botapi.requests == []


def test_cli_warns_about_loose_permissions(tmp_path: Path, botapi: BotApiServer) -> None:
    cfg = _write_config(tmp_path / "tg.json", botapi, mode=0o644)
    result = _run("send", "hello <world>", "--config", str(cfg))
    assert result.exit_code == 0
    assert "Warning: Telegram config" in result.output and "chmod 600" in result.output
    assert result.output.endswith(f"Message delivered to chat {CHAT}.\n")
    assert botapi.texts == ["🖥️ vm-1 (203.0.113.12)\nhello &lt;world&gt;"]


def test_cli_send_failure_exits_1(tmp_path: Path, botapi: BotApiServer) -> None:
    cfg = _write_config(tmp_path / "tg.json", botapi, chat_id="@nochat")
    botapi.set_mode("5xx", status=503)
    result = _run("send", "hello", "--config", str(cfg))
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: Telegram did not accept the message: sendMessage: HTTP 503"
    )


def test_cli_env_config(tmp_path: Path, botapi: BotApiServer, monkeypatch) -> None:
    monkeypatch.setenv("RUBIX_SYNC_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("RUBIX_SYNC_TELEGRAM_CHAT_ID", CHAT)
    monkeypatch.setenv("RUBIX_SYNC_TELEGRAM_API_BASE_URL", botapi.url)
    result = _run("send", "from env")
    assert result.exit_code == 0, result.output
    assert botapi.texts[0].endswith("\nfrom env")


def test_cli_help_texts() -> None:
    for args in (["--help"], ["test", "--help"], ["send", "--help"]):
        result = _run(*args)
        assert result.exit_code == 0
        assert "Telegram" in result.output or "TEXT" in result.output
    assert "Exits 0 only when" in _run("test", "--help").output
