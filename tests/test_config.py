"""Settings: flag > env > TOML file > default, secrets that never print, one-line errors."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rubix_sync.config import Settings, load_settings
from rubix_sync.errors import ConfigError
from rubix_sync.identity import Identity, detect_public_ip, resolve_identity


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_precedence_flag_over_env_over_file_over_default(tmp_path, monkeypatch):
    cfg = write(tmp_path / "c.toml", 'machine_name = "from-file"\nworkers = 3\nbatch_size = 77\n')
    monkeypatch.setenv("RUBIX_SYNC_MACHINE_NAME", "from-env")
    monkeypatch.setenv("RUBIX_SYNC_WORKERS", "5")
    settings, _ = load_settings({"config": cfg, "workers": 1})
    assert settings.workers == 1  # flag
    assert settings.machine_name == "from-env"  # env beats file
    assert settings.batch_size == 77  # file beats default
    assert settings.fetcher == "auto"  # default


def test_config_file_from_env_and_roots_split(tmp_path, monkeypatch):
    cfg = write(tmp_path / "c.toml", 'logs_dir = "/var/log/x"\n')
    monkeypatch.setenv("RUBIX_SYNC_CONFIG", str(cfg))
    monkeypatch.setenv("RUBIX_SYNC_ROOTS", os.pathsep.join(["/a", "/b"]))
    settings, _ = load_settings({})
    assert settings.roots == [Path("/a"), Path("/b")]
    assert settings.logs_dir == Path("/var/log/x")


def test_database_url_never_prints(tmp_path):
    settings, _ = load_settings({"database_url": "postgresql://u:hunter2example@h/db"})
    assert "hunter2example" not in repr(settings)
    assert "hunter2example" not in str(settings.model_dump())
    assert settings.database_url_value() == "postgresql://u:hunter2example@h/db"


def test_loose_permissions_warn(tmp_path, caplog):
    cfg = write(tmp_path / "c.toml", 'database_url = "postgresql://u:examplepw12@h/db"\n', 0o644)
    load_settings({"config": cfg})
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
    assert not any("examplepw12" in r.getMessage() for r in caplog.records)
    caplog.clear()
    cfg.chmod(0o600)
    load_settings({"config": cfg})
    assert not any("chmod 600" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("workers = [", "not valid TOML"),
        ('fetcher = "teleport"', "fetcher"),
        ("workers = -1", "workers"),
    ],
)
def test_bad_file_values_are_one_line_errors(tmp_path, text, fragment):
    cfg = write(tmp_path / "c.toml", text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings({"config": cfg})
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"config": tmp_path / "nope.toml"})


class _IpHandler(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, str]] = {}

    def do_GET(self) -> None:  # noqa: N802
        status, body = self.answers.get(self.path, (404, "no"))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ip_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IpHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_public_ip_detection_tries_endpoints_in_order(ip_server):
    _IpHandler.answers = {
        "/bad": (200, "not an ip"),
        "/err": (500, "x"),
        "/ok": (200, "203.0.113.7\n"),
    }
    urls = [f"{ip_server}/err", f"{ip_server}/bad", f"{ip_server}/ok"]
    assert detect_public_ip(urls, timeout=2) == "203.0.113.7"
    assert detect_public_ip(urls[:2], timeout=2) is None


def test_identity_from_settings_and_detection_switch(ip_server):
    _IpHandler.answers = {"/ok": (200, "198.51.100.4")}
    s = Settings(machine_name="vm-1", detect_public_ip=True, ip_endpoints=[f"{ip_server}/ok"])
    assert resolve_identity(s) == Identity("vm-1", "198.51.100.4")
    s = Settings(machine_name="vm-1", detect_public_ip=False, ip_endpoints=[f"{ip_server}/ok"])
    assert resolve_identity(s).public_ip is None
    assert resolve_identity(s).label() == "vm-1"
    s = Settings(machine_name="vm-1", public_ip="192.0.2.1")
    assert resolve_identity(s).label() == "vm-1 (192.0.2.1)"


def test_log_rotation_from_toml_overrides_the_guides_defaults(tmp_path):
    from rubix_sync.app import rotation_config

    cfg = write(tmp_path / "c.toml", "[log_rotation.main]\nmax_mb = 5\nbackups = 3\n")
    settings, _ = load_settings({"config": cfg})
    rotation = rotation_config(settings)
    assert (rotation.main.max_bytes, rotation.main.backups) == (5 * 1024 * 1024, 3)
    assert rotation.main.keep_days == 31  # unset: the default stays
    assert rotation.errors.max_bytes == 50 * 1024 * 1024 and rotation.errors.backups == 50
    bad = write(tmp_path / "bad.toml", "[log_rotation.main]\nmax_gb = 5\n")
    with pytest.raises(ConfigError, match="log_rotation"):
        load_settings({"config": bad})
