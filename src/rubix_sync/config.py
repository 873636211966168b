"""Typed settings for a sync: flags > environment (``RUBIX_SYNC_*``) > TOML config file > defaults.

Every field below is one configuration key. In the TOML file it keeps its name
(``database_url = "postgresql://..."``); in the environment it is upper-cased with the
``RUBIX_SYNC_`` prefix (``RUBIX_SYNC_DATABASE_URL``); list values in the environment are
separated by ``os.pathsep`` (roots) or commas (ip_endpoints). The README's configuration
reference lists them all, and a test keeps that list in step with this class.

Secret values (the database URL may carry a password) are :class:`pydantic.SecretStr`: they
print as ``**********`` and reach the driver only through :meth:`Settings.database_url_value`.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger("rubix_sync.config")

ENV_PREFIX = "RUBIX_SYNC_"
DEFAULT_DATABASE_FILE = "rubix_sync.db"
DEFAULT_IP_ENDPOINTS = (
    "https://api.ipify.org",
    "https://ifconfig.me/ip",
    "https://icanhazip.com",
)


class LogLimits(BaseModel):
    """Rotation of one kind of log file; unset keys keep the guide's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_mb: float | None = Field(default=None, ge=0)
    backups: int | None = Field(default=None, ge=0)
    keep_days: int | None = Field(default=None, ge=1)


class Settings(BaseSettings):
    """Everything ``rubix-sync run`` needs; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", validate_default=True, frozen=True
    )

    roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    """Folders searched for node databases (``Rubix/rubix.db``). Env: ``os.pathsep``-separated."""
    database_url: SecretStr | None = None
    """SQLAlchemy URL of the central database; unset means the embedded SQLite file
    ``rubix_sync.db`` in the working directory."""
    machine_name: str | None = None
    """Name of this VM in every record, session and message; default: the host name."""
    public_ip: str | None = None
    """Public IP recorded as ``source_ip``; default: detected (see ``detect_public_ip``)."""
    detect_public_ip: bool = True
    """Ask ``ip_endpoints`` for the public IP when ``public_ip`` is not set."""
    ip_endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_IP_ENDPOINTS)
    )
    """HTTP endpoints answering the caller's IP as plain text, tried in order (2 s timeout each)."""
    logs_dir: Path = Path("logs")
    """Folder of the audit log files and the JSON event stream."""
    log_rotation: dict[Literal["main", "debug", "errors", "component", "events"], LogLimits] = (
        Field(default_factory=dict)
    )
    """Per kind of log file, ``max_mb``, ``backups`` and ``keep_days`` replacing the guide's
    defaults (TOML table ``[log_rotation.main]`` ..., or JSON in the environment)."""
    workers: int = Field(default_factory=lambda: max(2, min(4, os.cpu_count() or 2)), ge=0)
    """Worker processes reading, fetching and validating databases in parallel (0: in-process)."""
    batch_size: int = Field(default=1000, ge=1, le=50_000)
    """Tokens per batch: one fetch call, one bulk upsert and one checkpoint each."""
    fetcher: Literal["auto", "blockstore", "rpc", "cli"] = "auto"
    """How token content is read: ``auto`` tries the block store, the RPC API, then ``ipfs``."""
    ipfs_api_url: str | None = None
    """Kubo RPC address for the ``rpc`` fetcher; default: each node's ``<repo>/api`` file."""
    ipfs_bin: str = "ipfs"
    """The ``ipfs`` program for the ``cli`` fetcher."""
    fetch_timeout: float = Field(default=10.0, gt=0)
    """Seconds before one RPC or CLI fetch counts as a timeout."""
    fetch_concurrency: int = Field(default=8, ge=1, le=256)
    """Parallel RPC/CLI fetches per database."""
    ipfs_repo_overrides: dict[str, Path] = Field(default_factory=dict)
    """Per node name, a kubo repo other than ``<node>/.ipfs`` (TOML table only)."""
    shared_storage: str | None = None
    """Name of node storage shared by several machines: records are keyed by it instead of the
    machine name, and databases are split between machines through leases."""
    host_name: str | None = None
    """Host part of this process's lease holder name (``machine:host:pid``); default: the host
    name. A lease whose holder process is gone from this host is taken over at once, any other
    only when it expires: give processes on one host that do not share a PID namespace
    (containers) distinct values."""
    lease_ttl: float = Field(default=60.0, gt=1)
    """Seconds a database lease lives without renewal; a dead holder's share is taken over after."""
    heartbeat_interval: float = Field(default=10.0, gt=0)
    """Seconds between session heartbeats (and lease renewals)."""
    progress_interval: float = Field(default=5.0, gt=0)
    """Seconds between progress events (log lines, display, metrics)."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Serve Prometheus metrics on 127.0.0.1:PORT while running."""
    telegram_config: Path | None = None
    """Path of ``telegram_config.json``; default: the working directory, then the config dir."""
    dry_run: bool = False
    """Read, fetch and validate, but write nothing to the central database."""

    @field_validator("roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p]
        return value

    @field_validator("ip_endpoints", mode="before")
    @classmethod
    def _split_endpoints(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    def database_url_value(self) -> str | None:
        """The database URL in clear, for the driver only."""
        return self.database_url.get_secret_value() if self.database_url else None

    @property
    def record_machine_name(self) -> str:
        """Key of this machine's records: the shared storage name when set, else the machine."""
        return self.shared_storage or self.machine_name or ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # flags (init) > env > TOML (merged into init by load_settings) > defaults
        return (init_settings, env_settings)


def setting_env_names() -> dict[str, str]:
    """Field name -> environment variable, for docs and tests."""
    return {name: ENV_PREFIX + name.upper() for name in Settings.model_fields}


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML config file; one clear :class:`ConfigError` for every way it can be wrong."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc.strerror}.") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None
    warn_if_loose(path, data)
    return data


SECRET_KEYS = ("database_url", "bot_token", "password", "token")


def warn_if_loose(path: Path, data: Mapping[str, Any]) -> str | None:
    """Warn when a file that holds a secret is readable by group or others."""
    if not _holds_secret(data):
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        msg = (
            f"{path} holds a secret but is readable by group or others "
            f"(mode {stat.filemode(mode)}); run: chmod 600 {path}"
        )
        log.warning(msg)
        return msg
    return None


def _holds_secret(data: Mapping[str, Any]) -> bool:
    for key, value in data.items():
        if isinstance(value, Mapping):
            if _holds_secret(value):
                return True
        elif key in SECRET_KEYS and value:
            if key == "database_url" and "@" not in str(value):
                continue  # a URL without credentials is not a secret
            return True
    return False


def load_settings(flags: Mapping[str, Any] | None = None) -> tuple[Settings, dict[str, Any]]:
    """Build :class:`Settings` from flags, the environment and the TOML file.

    Returns the settings and the raw TOML document (its ``[telegram]`` table feeds the
    notifier). ``flags`` holds only the options the user actually gave.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != () and v != []}
    config_path = flags.pop("config", None) or os.environ.get(ENV_PREFIX + "CONFIG")
    document: dict[str, Any] = {}
    if config_path:
        document = read_config_file(Path(config_path))
    file_values = {k: v for k, v in document.items() if k in Settings.model_fields}
    # flags > env > file: env wins over the file, so drop file keys the environment sets
    env_names = setting_env_names()
    file_values = {k: v for k, v in file_values.items() if env_names[k] not in os.environ}
    init = {**file_values, **flags}
    try:
        settings = Settings(**init)
    except ValidationError as exc:
        raise ConfigError(_first_validation_error(exc)) from None
    return settings, document


def _first_validation_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ())) or "settings"
    env_name = ENV_PREFIX + field.split(".")[0].upper()
    return (
        f"Invalid setting {field} (flag, {env_name} or config file): {err.get('msg', 'invalid')}."
    )
