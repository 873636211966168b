"""Typed Telegram/notification settings and where they come from.

Lookup (first found wins): the ``path`` argument (the CLI's ``--config``), then the file named by
``RUBIX_SYNC_TELEGRAM_CONFIG``, then ``telegram_config.json`` in the working directory, then
``$XDG_CONFIG_HOME/rubix-sync/telegram_config.json`` (``~/.config/rubix-sync/...`` when
``XDG_CONFIG_HOME`` is unset). Keys of a ``[telegram]`` section of the main TOML config
(``overrides``) replace the file's, and environment variables replace both.

Environment variables:

``RUBIX_SYNC_TELEGRAM_CONFIG``
    Path of the Telegram JSON config file (used when no ``--config`` is given).
``RUBIX_SYNC_TELEGRAM_BOT_TOKEN``
    The bot token (``bot_token``). Never printed or logged.
``RUBIX_SYNC_TELEGRAM_CHAT_ID``
    The chat, group or channel to post to (``chat_id``), e.g. ``-1001234567890``.
``RUBIX_SYNC_TELEGRAM_ENABLED``
    ``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``): ``enabled``.
``RUBIX_SYNC_TELEGRAM_API_BASE_URL``
    Bot API server (``api_base_url``), for a self-hosted Bot API server; default
    ``https://api.telegram.org``.
``XDG_CONFIG_HOME``
    Base of the user's config directory (default ``~/.config``).

With only ``RUBIX_SYNC_TELEGRAM_BOT_TOKEN`` and ``RUBIX_SYNC_TELEGRAM_CHAT_ID`` set, no file is
needed. A file that holds ``bot_token`` and is readable by group or others draws a warning
(logged on ``rubix_sync.notify`` and kept in :attr:`TelegramConfig.warnings`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import ConfigError

log = logging.getLogger("rubix_sync.notify")

CONFIG_FILENAME = "telegram_config.json"
ENV_CONFIG = "RUBIX_SYNC_TELEGRAM_CONFIG"
ENV_BOT_TOKEN = "RUBIX_SYNC_TELEGRAM_BOT_TOKEN"  # noqa: S105 (a variable name)
ENV_CHAT_ID = "RUBIX_SYNC_TELEGRAM_CHAT_ID"
ENV_ENABLED = "RUBIX_SYNC_TELEGRAM_ENABLED"
ENV_API_BASE_URL = "RUBIX_SYNC_TELEGRAM_API_BASE_URL"
ENV_VARS = (ENV_CONFIG, ENV_BOT_TOKEN, ENV_CHAT_ID, ENV_ENABLED, ENV_API_BASE_URL)

_TOKEN_SHAPE = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class TelegramConfig(BaseModel):
    """Settings of the Telegram notifier (the guide's keys) and of the other channels."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    bot_token: SecretStr | None = None
    """Bot token from @BotFather. A secret: never printed, logged or put in an error."""
    chat_id: str | None = None
    """Chat, group or channel id (``-100...``) or ``@channelname``."""
    enabled: bool = True
    """Master switch; ``false`` turns every notification off."""
    machine_name: str | None = None
    """Fallback machine name when the sync does not provide one."""
    public_ip: str | None = None
    """Fallback public IP when the sync does not provide one."""
    send_startup: bool = True
    """Send SYNC STARTED."""
    send_progress: bool = True
    """Send SYNC PROGRESS every ``progress_interval`` seconds."""
    send_errors: bool = True
    """Send ERROR DETECTED (bursts of one error type are coalesced)."""
    send_completion: bool = True
    """Send SYNC COMPLETED."""
    send_database_completed: bool = True
    """Send DATABASE COMPLETED for databases of at least ``database_completed_min_records``."""
    progress_interval: float = Field(default=300.0, ge=1.0)
    """Seconds between two progress messages."""
    max_message_length: int = Field(default=4000, ge=200, le=4096)
    """Longer messages are split at line boundaries."""
    api_base_url: str = "https://api.telegram.org"
    """Bot API server; change it for a self-hosted Bot API server."""
    database_completed_min_records: int = Field(default=10_000, ge=0)
    """Databases with at least this many records get a DATABASE COMPLETED message."""
    flush_timeout: float = Field(default=5.0, ge=0.0)
    """At the end of a run, wait at most this many seconds for undelivered messages."""
    request_timeout: float = Field(default=10.0, gt=0.0)
    """Timeout of one Bot API request, in seconds."""
    rate_limit_per_minute: float = Field(default=20.0, gt=0.0)
    """Messages per minute to the chat (Telegram allows about 20 a minute to a group)."""
    rate_limit_burst: int = Field(default=3, ge=1)
    """Messages that may go out back to back before the rate limit applies."""
    error_coalesce_window: float = Field(default=60.0, ge=0.0)
    """Errors of one type within this many seconds after one was sent become one message."""
    max_attempts: int = Field(default=5, ge=1)
    """Attempts per message on 429, 5xx and network errors."""
    queue_size: int = Field(default=200, ge=1)
    """Messages waiting for delivery at most; more are dropped (and reported)."""
    apprise_urls: list[SecretStr] = Field(default_factory=list)
    """Apprise URLs (Slack, Discord, e-mail, ...) that get the same events as plain text."""

    _source: Path | None = PrivateAttr(default=None)
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id_text(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        if isinstance(v, str):
            return v.strip() or None
        return v

    @field_validator("bot_token", mode="before")
    @classmethod
    def _token_text(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            return v or None
        return v

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not _TOKEN_SHAPE.match(v.get_secret_value()):
            raise ValueError(
                "does not look like a bot token (digits, a colon, then letters/digits/_/-); "
                "copy it from @BotFather"
            )
        return v

    @field_validator("api_base_url")
    @classmethod
    def _url_shape(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http:// or https:// URL, e.g. https://api.telegram.org")
        return v

    @model_validator(mode="after")
    def _complete(self) -> TelegramConfig:
        if self.enabled and not self.apprise_urls:
            if self.bot_token is None:
                raise ValueError(
                    f"bot_token is missing: set it in the file or in {ENV_BOT_TOKEN}, "
                    "or set enabled to false"
                )
            if self.chat_id is None:
                raise ValueError(
                    f"chat_id is missing: set it in the file or in {ENV_CHAT_ID}, "
                    "or set enabled to false"
                )
        if (self.bot_token is None) != (self.chat_id is None) and self.enabled:
            missing = "bot_token" if self.bot_token is None else "chat_id"
            raise ValueError(f"{missing} is missing (Telegram needs both bot_token and chat_id)")
        return self

    @property
    def telegram_enabled(self) -> bool:
        """True when Telegram messages should go out (enabled, with token and chat)."""
        return self.enabled and self.bot_token is not None and self.chat_id is not None

    @property
    def source(self) -> Path | None:
        """The file these settings came from (None for env/overrides only)."""
        return self._source

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings found while loading (e.g. a token file readable by others)."""
        return self._warnings


def default_search_paths(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where ``telegram_config.json`` is looked for, in order (without flag and env var)."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path(env.get("HOME") or Path.home()) / ".config"
    return [Path.cwd() / CONFIG_FILENAME, base / "rubix-sync" / CONFIG_FILENAME]


def find_config_file(path: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to use, or None. An explicit or env path must exist."""
    env = os.environ if env is None else env
    explicit = (
        path if path is not None else (Path(env[ENV_CONFIG]) if env.get(ENV_CONFIG) else None)
    )
    if explicit is not None:
        explicit = explicit.expanduser()
        if not explicit.is_file():
            via = "--config" if path is not None else ENV_CONFIG
            raise ConfigError(
                f"Telegram config file {explicit} (from {via}) does not exist; "
                "copy telegram_config_template.json there and edit it"
            )
        return explicit
    for cand in default_search_paths(env):
        if cand.is_file():
            return cand
    return None


def _parse_bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean; use true or false")


def _permission_warning(file: Path) -> str | None:
    try:
        mode = file.stat().st_mode
    except OSError:
        return None
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        return (
            f"Telegram config {file} holds the bot token and is readable by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); restrict it with: chmod 600 {file}"
        )
    return None


def _read_file(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Telegram config {file}: cannot read it ({exc.__class__.__name__})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"Telegram config {file}: invalid JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg}); compare it with telegram_config_template.json"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"Telegram config {file}: expected a JSON object {{...}} at the top level"
        )
    # keys starting with "_" are comments (the template uses "_comment")
    return {k: v for k, v in data.items() if not str(k).startswith("_")}


def _describe(exc: ValidationError) -> str:
    """One line from a pydantic error, never including the input values (they may be secret)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key (check the spelling against telegram_config_template.json)"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_telegram_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TelegramConfig | None:
    """Find and validate the Telegram settings; None when nothing is configured anywhere.

    Raises :class:`~rubix_sync.errors.ConfigError` (one line naming the file and the problem,
    never the token) for a missing explicit file, bad JSON, an unknown key or a bad value.
    """
    env = os.environ if env is None else env
    file = find_config_file(path, env)
    file_data: dict[str, Any] = _read_file(file) if file is not None else {}
    data = dict(file_data)
    if overrides:
        data.update({k: v for k, v in overrides.items() if v is not None})
    if env.get(ENV_BOT_TOKEN):
        data["bot_token"] = env[ENV_BOT_TOKEN]
    if env.get(ENV_CHAT_ID):
        data["chat_id"] = env[ENV_CHAT_ID]
    if env.get(ENV_ENABLED) is not None and env.get(ENV_ENABLED, "").strip() != "":
        data["enabled"] = _parse_bool(ENV_ENABLED, env[ENV_ENABLED])
    if env.get(ENV_API_BASE_URL):
        data["api_base_url"] = env[ENV_API_BASE_URL]
    if file is None and not data:
        return None
    where = f"Telegram config {file}" if file is not None else "Telegram settings (env/overrides)"
    try:
        cfg = TelegramConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None
    warnings: list[str] = []
    if file is not None and "bot_token" in file_data:
        warning = _permission_warning(file)
        if warning:
            log.warning("%s", warning)
            warnings.append(warning)
    cfg._source = file
    cfg._warnings = tuple(warnings)
    return cfg
