"""Root fixtures: hermetic environment and a loopback-only network guard for every test."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(sock: socket.socket, address: object) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) else address
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        if host == "localhost":
            return
        raise AssertionError(f"test tried to connect to {host!r}: only 127.0.0.1 is allowed")
    if not ip.is_loopback:
        raise AssertionError(f"test tried to connect to {host}: only 127.0.0.1 is allowed")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may send traffic anywhere but 127.0.0.1."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without RUBIX_SYNC_* settings, with IP detection and Telegram off."""
    for key in list(os.environ):
        if key.startswith("RUBIX_SYNC_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RUBIX_SYNC_DETECT_PUBLIC_IP", "false")
    monkeypatch.setenv("RUBIX_SYNC_IP_ENDPOINTS", "http://127.0.0.1:9/ip")
