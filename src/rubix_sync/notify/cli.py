"""``rubix-sync notify``: check and use the Telegram setup from the command line.

Exit codes: 0 the Bot API accepted the request; 1 delivery failed (token rejected, chat not
found, server unreachable); 2 no or invalid config.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from ..errors import ConfigError
from .config import (
    ENV_BOT_TOKEN,
    ENV_CHAT_ID,
    ENV_CONFIG,
    default_search_paths,
    load_telegram_config,
)
from .messages import custom_message
from .telegram import TelegramNotifier

_CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Telegram config JSON (default: ${ENV_CONFIG}, ./telegram_config.json, "
    "then ~/.config/rubix-sync/telegram_config.json).",
)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _notifier(config_path: Path | None) -> TelegramNotifier:
    try:
        cfg = load_telegram_config(config_path)
    except ConfigError as exc:
        _fail(str(exc), 2)
    if cfg is None:
        places = ", ".join(str(p) for p in default_search_paths())
        _fail(
            f"no Telegram config found (looked in {places}); copy telegram_config_template.json "
            f"to telegram_config.json and edit it, or set {ENV_BOT_TOKEN} and {ENV_CHAT_ID}",
            2,
        )
    for warning in cfg.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if not cfg.telegram_enabled:
        if cfg.bot_token is None or cfg.chat_id is None:
            _fail("the Telegram config has no bot_token/chat_id; set both to use Telegram", 2)
        click.echo("Note: notifications are disabled (enabled: false); testing anyway.", err=True)
    return TelegramNotifier(cfg)


@click.group("notify")
def notify() -> None:
    """Check and use the Telegram notification setup."""


@notify.command("test")
@_CONFIG_OPTION
def test_cmd(config_path: Path | None) -> None:
    """Call getMe and send a test message to the configured chat.

    Exits 0 only when the Bot API accepted both, 1 when it did not, 2 without a valid config.
    """
    notifier = _notifier(config_path)
    check = notifier.check_connection()
    if not check.ok:
        _fail(f"Telegram test failed at {check.step}: {check.error}", 1)
    click.echo(f"getMe: OK (bot @{check.bot_username})")
    click.echo(f"Test message delivered to chat {notifier.config.chat_id}.")


@notify.command("send")
@click.argument("text")
@_CONFIG_OPTION
def send_cmd(text: str, config_path: Path | None) -> None:
    """Send TEXT (plain text, under this machine's name) to the configured chat."""
    notifier = _notifier(config_path)
    out = notifier.send_html(custom_message(notifier.identity, text))
    if not out.ok:
        _fail(f"Telegram did not accept the message: {out.reason}", 1)
    click.echo(f"Message delivered to chat {notifier.config.chat_id}.")
