"""Notifications: the guide's Telegram messages (and Apprise channels), sent in the background.

- :mod:`.config` — :class:`TelegramConfig`, :func:`load_telegram_config` (env vars listed there)
- :mod:`.messages` — the five messages as pure functions
- :mod:`.telegram` — :class:`TelegramNotifier` (Bot API over httpx)
- :mod:`.apprise_channel` — :class:`AppriseNotifier` (optional extra ``apprise``)
- :mod:`.listener` — :class:`NotificationListener`, an EventBus listener
- :mod:`.api` — the guide's names: ``init_telegram_notifier``, ``notify_error``, ``send_message``
- :mod:`.cli` — ``rubix-sync notify test|send``
"""

from __future__ import annotations

from .base import DeliveryReport, MachineIdentity, Notifier
from .config import TelegramConfig, load_telegram_config
from .listener import NotificationListener, build_notifiers
from .telegram import ConnectionCheck, TelegramNotifier

__all__ = [
    "ConnectionCheck",
    "DeliveryReport",
    "MachineIdentity",
    "NotificationListener",
    "Notifier",
    "TelegramConfig",
    "TelegramNotifier",
    "build_notifiers",
    "load_telegram_config",
]
