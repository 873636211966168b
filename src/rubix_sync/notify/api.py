"""The guide's Python API: ``init_telegram_notifier``, ``test_connection``, ``send_message``,
``notify_error``.

::

    from rubix_sync.notify.api import init_telegram_notifier, notify_error
    notifier = init_telegram_notifier()          # None when there is no config or it is disabled
    print(notifier.test_connection() if notifier else "No config")
    notify_error("custom", "Custom alert message", {"vm_id": "special-vm"})

``init_telegram_notifier`` also makes the notifier the module default, used by the module-level
``notify_error`` and ``send_message`` (which look up the config themselves when no default is
set). Queued messages are flushed, bounded by ``flush_timeout``, when the interpreter exits.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from pathlib import Path

from .base import MachineIdentity
from .config import load_telegram_config
from .listener import NotificationListener
from .telegram import TelegramNotifier

__all__ = [
    "TelegramNotifier",
    "init_telegram_notifier",
    "notify_error",
    "send_message",
    "set_default_notifier",
    "get_default_notifier",
]

_lock = threading.Lock()
_default: TelegramNotifier | None = None
_default_listener: NotificationListener | None = None
_looked_up = False
_atexit_registered = False


def init_telegram_notifier(
    config_path: str | Path | None = None, *, identity: MachineIdentity | None = None
) -> TelegramNotifier | None:
    """A notifier from the Telegram config (looked up as in
    :func:`~rubix_sync.notify.config.load_telegram_config`); None when there is no config or it
    is disabled. Raises :class:`~rubix_sync.errors.ConfigError` for a malformed config."""
    cfg = load_telegram_config(Path(config_path) if config_path is not None else None)
    if cfg is None or not cfg.telegram_enabled:
        return None
    notifier = TelegramNotifier(cfg, identity=identity)
    set_default_notifier(notifier)
    return notifier


def set_default_notifier(notifier: TelegramNotifier | None) -> None:
    """Use ``notifier`` for the module-level functions (None: forget it; the next call of a
    module-level function looks the config up again)."""
    global _default, _default_listener, _looked_up, _atexit_registered
    with _lock:
        old = _default_listener
        _default = notifier
        _default_listener = (
            NotificationListener([notifier], notifier.config, notifier.identity)
            if notifier is not None
            else None
        )
        _looked_up = notifier is not None  # None: look the config up again when needed
        if not _atexit_registered:
            atexit.register(_close_default)
            _atexit_registered = True
    if old is not None and (notifier is None or old.notifiers[0] is not notifier):
        old.close()


def get_default_notifier() -> TelegramNotifier | None:
    """The module default, looking up the config once if none was set."""
    global _looked_up
    with _lock:
        if _default is not None or _looked_up:
            return _default
        _looked_up = True
    return init_telegram_notifier()


def _close_default() -> None:
    with _lock:
        listener = _default_listener
    if listener is not None:
        listener.close()


def notify_error(
    error_type: str, message: str, context: Mapping[str, object] | None = None
) -> bool:
    """Queue an ERROR DETECTED message (bursts of one type coalesced); False without a notifier."""
    if get_default_notifier() is None:
        return False
    with _lock:
        listener = _default_listener
    if listener is None:
        return False
    listener.tick()
    listener.notify_error(error_type, message, context)
    return True


def send_message(text: str) -> bool:
    """Send ``text`` now with the default notifier; True only when Telegram accepted it."""
    notifier = get_default_notifier()
    return notifier.send_message(text) if notifier is not None else False
