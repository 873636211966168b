"""Other channels through Apprise (Slack, Discord, e-mail, ...): the same events as plain text.

Optional: ``pip install 'rubix-sync[apprise]'``. Apprise URLs often embed tokens, so they are
kept as secrets and never logged.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from ..errors import ConfigError, MissingDependencyError
from ._worker import BackgroundSender, Outcome, RetryPolicy
from .base import DeliveryReport, html_to_text

log = logging.getLogger("rubix_sync.notify")


def _import_apprise() -> Any:
    try:
        with warnings.catch_warnings():
            # Apprise's plugins import stdlib modules deprecated in 3.11+ (imghdr): not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise
    except ImportError:
        raise MissingDependencyError("Apprise notifications (apprise_urls)", "apprise") from None
    return apprise


class AppriseNotifier:
    """A :class:`~rubix_sync.notify.base.Notifier` that posts plain text to Apprise URLs."""

    channel = "apprise"

    def __init__(
        self,
        urls: Sequence[SecretStr | str],
        *,
        flush_timeout: float = 5.0,
        queue_size: int = 200,
        title: str = "rubix-sync",
    ) -> None:
        apprise = _import_apprise()
        self._apprise = apprise
        self._title = title
        self._obj = apprise.Apprise()
        for i, url in enumerate(urls, 1):
            raw = url.get_secret_value() if isinstance(url, SecretStr) else url
            with warnings.catch_warnings():  # the first add() loads Apprise's plugins
                warnings.simplefilter("ignore", DeprecationWarning)
                added = self._obj.add(raw)
            if not added:
                raise ConfigError(
                    f"apprise_urls entry {i} is not a URL Apprise understands; "
                    "see https://github.com/caronc/apprise/wiki"
                )
        self._sender = BackgroundSender(
            self.channel,
            self._deliver_once,
            policy=RetryPolicy(max_attempts=1),
            flush_timeout=flush_timeout,
            queue_size=queue_size,
        )

    def __repr__(self) -> str:
        return f"AppriseNotifier({len(self._obj)} url(s))"

    def _deliver_once(self, text: str) -> Outcome:
        plain = html_to_text(text)
        title, _, body = plain.partition("\n")
        try:
            ok = self._obj.notify(body=body or title, title=title or self._title)
        except Exception as exc:  # apprise plugins may raise anything
            return Outcome(False, f"apprise: {type(exc).__name__}")
        if ok:
            return Outcome(True)
        # not retried: Apprise cannot tell which URL failed, a retry would repeat the others
        return Outcome(False, "apprise: at least one URL did not accept the message")

    def send(self, text: str, *, kind: str) -> None:
        self._sender.submit(text, kind)

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = None) -> DeliveryReport:
        return self._sender.close(timeout)

    def report(self) -> DeliveryReport:
        return self._sender.report()
