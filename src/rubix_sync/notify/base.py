"""The one notifier seam: :class:`Notifier`, plus the small values every channel shares.

A notifier takes a finished message (Telegram-HTML: ``<b>``, ``<pre>`` and escaped text, built by
:mod:`rubix_sync.notify.messages`) and delivers it in the background; ``send`` never blocks the
sync. Telegram sends it as HTML; other channels render it as plain text (:func:`html_to_text`).
"""

from __future__ import annotations

import html
import logging
import re
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

log = logging.getLogger("rubix_sync.notify")

# Message kinds, passed as ``kind=`` (used in logs and delivery reports).
KIND_STARTUP = "startup"
KIND_PROGRESS = "progress"
KIND_ERROR = "error"
KIND_DATABASE = "database"
KIND_COMPLETION = "completion"
KIND_TEST = "test"
KIND_CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class MachineIdentity:
    """Who is speaking: shown as ``Name (IP)``, or just ``Name`` without an IP."""

    name: str
    ip: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.ip})" if self.ip else self.name

    @classmethod
    def resolve(
        cls,
        *candidates: tuple[str | None, str | None] | MachineIdentity | None,
    ) -> MachineIdentity:
        """First non-empty name and first non-empty IP, field by field; the host name last."""
        name: str | None = None
        ip: str | None = None
        for cand in candidates:
            if cand is None:
                continue
            c_name, c_ip = (cand.name, cand.ip) if isinstance(cand, MachineIdentity) else cand
            if not name and c_name and c_name.strip():
                name = c_name.strip()
            if not ip and c_ip and c_ip.strip():
                ip = c_ip.strip()
        return cls(name or socket.gethostname() or "unknown", ip)


@dataclass(slots=True)
class DeliveryReport:
    """What one channel delivered so far: counts, and why messages were not delivered."""

    channel: str
    sent: int = 0
    failed: int = 0
    pending: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def undelivered(self) -> int:
        return self.failed + self.pending

    @property
    def ok(self) -> bool:
        return self.undelivered == 0

    def summary(self) -> str:
        text = f"{self.channel}: {self.sent} sent, {self.failed} failed, {self.pending} pending"
        if self.reasons:
            why = "; ".join(f"{r} (x{n})" for r, n in self.reasons.most_common())
            text += f"; reasons: {why}"
        return text

    def log_undelivered(self, logger: logging.Logger = log) -> None:
        """Log a warning naming how many messages were not delivered and why (nothing if none)."""
        if self.undelivered:
            logger.warning("%d notification(s) not delivered. %s", self.undelivered, self.summary())


@runtime_checkable
class Notifier(Protocol):
    """One delivery channel (Telegram, Apprise, ...)."""

    def send(self, text: str, *, kind: str) -> None:
        """Queue ``text`` (Telegram-HTML) for delivery; never blocks, never raises."""
        ...

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Wait at most ``timeout`` s (default: the configured ``flush_timeout``) for queued
        messages; report what happened."""
        ...

    def close(self, timeout: float | None = None) -> DeliveryReport:
        """Flush (bounded as in :meth:`flush`), stop the sender, log anything undelivered."""
        ...


_TAG = re.compile(r"<[^>]*>")


def html_to_text(text: str) -> str:
    """Plain text of a Telegram-HTML message (tags dropped, entities unescaped)."""
    return html.unescape(_TAG.sub("", text))
