"""Fixtures for the notify tests: a hermetic environment, the loopback Bot API stand-in, and a
guard that fails any test whose HTTP traffic would leave 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rubix_sync.notify.config import TelegramConfig

from .botapi_server import BotApiServer

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz0123"
CHAT = "-1001234567890"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real config, env var or proxy leaks in; cwd and config dirs are empty temp dirs."""
    for name in list(os.environ):
        if name.startswith("RUBIX_SYNC_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return work


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail the test if any httpx request (from any thread) targets a host other than loopback."""
    violations: list[str] = []
    real_send = httpx.Client.send

    def guarded(self: httpx.Client, request: httpx.Request, **kw: Any) -> httpx.Response:
        if request.url.host not in _LOOPBACK:
            violations.append(request.url.host)
            raise httpx.ConnectError("blocked by test guard: not loopback", request=request)
        return real_send(self, request, **kw)

    monkeypatch.setattr(httpx.Client, "send", guarded)
    yield violations
    assert not violations, f"traffic to non-loopback hosts: {violations}"


@pytest.fixture(scope="session")
def botapi_server() -> Iterator[BotApiServer]:
    with BotApiServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def botapi(botapi_server: BotApiServer) -> BotApiServer:
    botapi_server.reset()
    return botapi_server


@pytest.fixture
def make_config(botapi: BotApiServer):
    """TelegramConfig pointing at the stand-in, with fast timeouts; keyword args override."""

    def make(**kw: Any) -> TelegramConfig:
        data: dict[str, Any] = {
            "bot_token": TOKEN,
            "chat_id": CHAT,
            "machine_name": "Production-VM-1",
            "public_ip": "203.0.113.12",
            "api_base_url": botapi.url,
            "request_timeout": 1.0,
            "flush_timeout": 2.0,
            "rate_limit_per_minute": 6000,
            "rate_limit_burst": 100,
        }
        data.update(kw)
        cfg = TelegramConfig.model_validate(data)
        host = httpx.URL(cfg.api_base_url).host
        assert host in _LOOPBACK, f"test config points at {host}, not the stand-in"
        return cfg

    return make
