"""Config lookup order, env vars, validation errors without secrets, permission warning."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from rubix_sync.errors import ConfigError
from rubix_sync.notify.config import TelegramConfig, load_telegram_config

from .conftest import CHAT, TOKEN

REPO = Path(__file__).resolve().parents[2]
OTHER_TOKEN = "654321:OTHER-token_abcdefghijklmnopqrstuvwxyz9876"


def _write(path: Path, mode: int = 0o600, **data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    path.chmod(mode)
    return path


def test_nothing_configured_returns_none() -> None:
    assert load_telegram_config() is None


def test_defaults() -> None:
    cfg = load_telegram_config(env={"RUBIX_SYNC_TELEGRAM_BOT_TOKEN": TOKEN,
                                    "RUBIX_SYNC_TELEGRAM_CHAT_ID": CHAT})  # fmt: skip
    assert cfg is not None
    assert cfg.progress_interval == 300
    assert cfg.max_message_length == 4000
    assert cfg.api_base_url == "https://api.telegram.org"
    assert cfg.flush_timeout == 5
    assert cfg.database_completed_min_records == 10_000
    assert cfg.apprise_urls == []
    assert cfg.enabled and cfg.telegram_enabled
    assert cfg.source is None


def test_lookup_order(hermetic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = _write(tmp_path / "xdg" / "rubix-sync" / "telegram_config.json",
                 bot_token=TOKEN, chat_id="1", machine_name="xdg")  # fmt: skip
    cfg = load_telegram_config()
    assert cfg is not None and cfg.machine_name == "xdg" and cfg.source == xdg

    cwd = _write(hermetic / "telegram_config.json", bot_token=TOKEN, chat_id="2",
                 machine_name="cwd")  # fmt: skip
    cfg = load_telegram_config()
    assert cfg is not None and cfg.machine_name == "cwd" and cfg.source == cwd

    env_file = _write(tmp_path / "elsewhere" / "tg.json", bot_token=TOKEN, chat_id="3",
                      machine_name="env")  # fmt: skip
    monkeypatch.setenv("RUBIX_SYNC_TELEGRAM_CONFIG", str(env_file))
    cfg = load_telegram_config()
    assert cfg is not None and cfg.machine_name == "env"

    flag = _write(tmp_path / "flag.json", bot_token=TOKEN, chat_id="4", machine_name="flag")
    cfg = load_telegram_config(flag)
    assert cfg is not None and cfg.machine_name == "flag" and cfg.source == flag


def test_home_config_dir_without_xdg(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _write(home / ".config" / "rubix-sync" / "telegram_config.json", bot_token=TOKEN, chat_id="9")
    cfg = load_telegram_config(env={"HOME": str(home)})
    assert cfg is not None and cfg.chat_id == "9"


def test_env_overrides_file_and_overrides(hermetic: Path) -> None:
    _write(hermetic / "telegram_config.json", bot_token=TOKEN, chat_id="1", enabled=True,
           progress_interval=600)  # fmt: skip
    env = {
        "RUBIX_SYNC_TELEGRAM_BOT_TOKEN": OTHER_TOKEN,
        "RUBIX_SYNC_TELEGRAM_CHAT_ID": "-100999",
        "RUBIX_SYNC_TELEGRAM_ENABLED": "false",
        "RUBIX_SYNC_TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/",
    }
    cfg = load_telegram_config(env=env, overrides={"progress_interval": 120, "chat_id": "-5"})
    assert cfg is not None
    assert cfg.bot_token is not None and cfg.bot_token.get_secret_value() == OTHER_TOKEN
    assert cfg.chat_id == "-100999"  # env beats overrides
    assert cfg.progress_interval == 120  # overrides beat the file
    assert cfg.enabled is False and not cfg.telegram_enabled
    assert cfg.api_base_url == "http://127.0.0.1:9"


def test_int_chat_id_and_comment_keys(hermetic: Path) -> None:
    _write(hermetic / "telegram_config.json", _comment="hi", bot_token=TOKEN, chat_id=-1001)
    cfg = load_telegram_config()
    assert cfg is not None and cfg.chat_id == "-1001"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"bot_token": "' + TOKEN + '", "chat_id": "1",}', "invalid JSON at line 1"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"bot_token": TOKEN, "chat_id": "1", "send_progres": True}),
         "send_progres: unknown key"),
        (json.dumps({"bot_token": TOKEN, "chat_id": "1", "progress_interval": "soon"}),
         "progress_interval:"),
        (json.dumps({"bot_token": TOKEN}), "chat_id is missing"),
        (json.dumps({"bot_token": TOKEN + " extra!", "chat_id": "1"}),
         "bot_token: does not look like a bot token"),
        (json.dumps({"bot_token": "YOUR_BOT_TOKEN", "chat_id": "1"}),
         "bot_token: does not look like a bot token"),
        (json.dumps({"bot_token": TOKEN, "chat_id": "1", "api_base_url": "ftp://x"}),
         "api_base_url: must be an http"),
    ],
    ids=["bad-json", "not-object", "unknown-key", "bad-type", "no-chat", "bad-token",
         "placeholder", "bad-url"],
)  # fmt: skip
def test_malformed_file_one_line_error_without_token(
    hermetic: Path, content: str, expected: str
) -> None:
    path = hermetic / "telegram_config.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_telegram_config()
    msg = str(info.value)
    assert expected in msg
    assert str(path) in msg
    assert "\n" not in msg
    assert "TEST-token" not in msg and "123456:" not in msg
    # no chained pydantic/json error that could carry the raw input into a traceback
    exc = info.value
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_bad_env_values() -> None:
    with pytest.raises(ConfigError, match="RUBIX_SYNC_TELEGRAM_ENABLED='maybe'"):
        load_telegram_config(env={"RUBIX_SYNC_TELEGRAM_ENABLED": "maybe"})
    with pytest.raises(ConfigError, match="RUBIX_SYNC_TELEGRAM_CONFIG"):
        load_telegram_config(env={"RUBIX_SYNC_TELEGRAM_CONFIG": "/nonexistent/tg.json"})
    with pytest.raises(ConfigError, match="--config"):
        load_telegram_config(Path("/nonexistent/tg.json"))


def test_secret_never_printed(hermetic: Path) -> None:
    cfg = TelegramConfig(bot_token=TOKEN, chat_id="1")  # type: ignore[arg-type]
    for text in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.model_dump())):
        assert TOKEN not in text
    assert cfg.bot_token is not None and cfg.bot_token.get_secret_value() == TOKEN


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_loose_permissions_warn(hermetic: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(hermetic / "telegram_config.json", mode=0o644, bot_token=TOKEN, chat_id="1")
    with caplog.at_level(logging.WARNING, logger="rubix_sync.notify"):
        cfg = load_telegram_config()
    assert cfg is not None
    assert len(cfg.warnings) == 1
    assert "readable by group or others (mode 0644)" in cfg.warnings[0]
    assert f"chmod 600 {path}" in cfg.warnings[0]
    assert [r.getMessage() for r in caplog.records if r.name == "rubix_sync.notify"] == [
        cfg.warnings[0]
    ]
    path.chmod(0o600)
    cfg = load_telegram_config()
    assert cfg is not None and cfg.warnings == ()
    # a file without the token (token from env) is not a secret file
    _write(path, mode=0o644, chat_id="1")
    cfg = load_telegram_config(env={"RUBIX_SYNC_TELEGRAM_BOT_TOKEN": TOKEN})
    assert cfg is not None and cfg.warnings == ()


def test_template_is_valid_and_holds_no_token_like_value() -> None:
    import re

    template = REPO / "telegram_config_template.json"
    data = json.loads(template.read_text())
    keys = {k for k in data if not k.startswith("_")}
    guide_keys = {
        "bot_token", "chat_id", "enabled", "machine_name", "public_ip", "send_startup",
        "send_progress", "send_errors", "send_completion", "progress_interval",
        "max_message_length",
    }  # fmt: skip
    assert guide_keys <= keys
    assert keys <= set(TelegramConfig.model_fields)
    assert not re.search(r"[0-9]{8,10}:[A-Za-z0-9_-]{35}", template.read_text())
    # the placeholder is rejected with a clear message, so nobody runs with it by accident
    with pytest.raises(ConfigError, match="does not look like a bot token"):
        load_telegram_config(template)
