"""Telegram Bot API channel: ``sendMessage`` and ``getMe`` over httpx, in the background.

The bot token is part of every Bot API URL, so no URL, httpx exception text or httpx log line
leaves this module unscrubbed: reasons are built here, and a filter on the ``httpx`` logger
masks the token in its request lines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import redact
from ._worker import BackgroundSender, Outcome, RetryPolicy, TokenBucket, deliver_with_retries
from .base import DeliveryReport, MachineIdentity, html_to_text
from .config import TelegramConfig
from .messages import connection_test_message, custom_message
from .split import split_message

log = logging.getLogger("rubix_sync.notify")


class _TokenScrubFilter(logging.Filter):
    """Mask known bot tokens (and anything :func:`redact` knows) in third-party log records."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # pragma: no cover - a broken record: leave it to logging
            return True
        clean = _scrub(msg, self.tokens)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def _scrub(text: object, tokens: set[str] | frozenset[str]) -> str:
    s = str(text)
    for tok in tokens:
        if tok:
            s = s.replace(tok, "***")
    return redact(s)


_FILTER = _TokenScrubFilter()


def _guard_third_party_logs(token: str) -> None:
    _FILTER.tokens.add(token)
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """Result of ``getMe`` + a test message; ``ok`` only when both truly succeeded."""

    ok: bool
    bot_username: str | None = None
    error: str | None = None
    step: str = ""  # "getMe" or "sendMessage" when it failed


class TelegramNotifier:
    """A :class:`~rubix_sync.notify.base.Notifier` for one Telegram chat.

    ``send`` queues (never blocks); ``send_message`` and ``test_connection`` deliver synchronously
    and say whether Telegram accepted the message.
    """

    channel = "telegram"

    def __init__(
        self,
        config: TelegramConfig,
        *,
        identity: MachineIdentity | None = None,
        clock: Callable[[], float] = time.monotonic,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if config.bot_token is None or config.chat_id is None:
            raise ValueError("TelegramNotifier needs a config with bot_token and chat_id")
        self.config = config
        self.identity = identity or MachineIdentity.resolve((config.machine_name, config.public_ip))
        self._token = config.bot_token.get_secret_value()
        self._tokens = frozenset({self._token})
        _guard_third_party_logs(self._token)
        self._transport = transport
        self._policy = RetryPolicy(config.max_attempts, backoff_base, backoff_max)
        self._bucket = TokenBucket(config.rate_limit_per_minute, config.rate_limit_burst, clock)
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._sender = BackgroundSender(
            self.channel,
            self._deliver_once,
            policy=self._policy,
            flush_timeout=config.flush_timeout,
            queue_size=config.queue_size,
            bucket=self._bucket,
            on_exit=self._close_client,
        )

    def __repr__(self) -> str:
        return (
            f"TelegramNotifier(chat_id={self.config.chat_id!r}, api={self.config.api_base_url!r})"
        )

    # -- HTTP ----------------------------------------------------------------------------
    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            timeout=httpx.Timeout(self.config.request_timeout),
            transport=self._transport,
        )

    def _worker_client(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _close_client(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _url(self, method: str) -> str:
        return f"{self.config.api_base_url}/bot{self._token}/{method}"

    def _call(
        self, client: httpx.Client, method: str, payload: dict[str, Any] | None = None
    ) -> tuple[Outcome, dict[str, Any]]:
        """One Bot API call; never raises, never lets the token into the reason."""
        try:
            resp = client.post(self._url(method), json=payload or {})
        except httpx.TimeoutException:
            return Outcome(
                False, f"{method}: no answer within {self.config.request_timeout:g}s", True
            ), {}
        except httpx.HTTPError as exc:
            reason = f"{method}: network error {type(exc).__name__}: {_scrub(exc, self._tokens)}"
            return Outcome(False, reason, True), {}
        except Exception as exc:  # e.g. an invalid URL: terminal
            reason = f"{method}: {type(exc).__name__}: {_scrub(exc, self._tokens)}"
            return Outcome(False, reason), {}
        try:
            body = resp.json()
            if not isinstance(body, dict):
                body = {}
        except ValueError:
            body = {}
        desc = _scrub(body.get("description") or resp.reason_phrase or "", self._tokens)
        if resp.status_code == 200 and body.get("ok") is True:
            return Outcome(True), body
        status = resp.status_code
        if status == 429:
            params = body.get("parameters") or {}
            retry_after: Any = params.get("retry_after") if isinstance(params, dict) else None
            if retry_after is None:
                retry_after = resp.headers.get("retry-after")
            try:
                wait = float(retry_after) if retry_after is not None else 1.0
            except ValueError:
                wait = 1.0
            return Outcome(False, f"{method}: HTTP 429 {desc}".rstrip(), retry_after=wait), body
        reason = f"{method}: HTTP {status} {desc}".rstrip()
        if status >= 500:
            return Outcome(False, reason, retryable=True), body
        if status == 200:  # 200 without ok: treat as a server problem
            return Outcome(False, f"{method}: unexpected answer", retryable=True), body
        return Outcome(False, reason), body

    def _send_payload(self, text: str, html: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "chat_id": self.config.chat_id,
            "text": text,
            "disable_web_page_preview": True,
        }
        if html:
            payload["parse_mode"] = "HTML"
        return payload

    def _deliver_with(self, client: httpx.Client, text: str) -> Outcome:
        out, body = self._call(client, "sendMessage", self._send_payload(text))
        if not out.ok and "parse entities" in out.reason:
            # Telegram rejected our markup: better plain text than nothing
            log.warning("telegram: HTML rejected (%s); resending as plain text", out.reason)
            out, body = self._call(
                client, "sendMessage", self._send_payload(html_to_text(text), False)
            )
        return out

    def _deliver_once(self, text: str) -> Outcome:
        return self._deliver_with(self._worker_client(), text)

    # -- Notifier ------------------------------------------------------------------------
    def send(self, text: str, *, kind: str) -> None:
        """Queue a Telegram-HTML message (split when longer than ``max_message_length``)."""
        for chunk in split_message(text, self.config.max_message_length):
            self._sender.submit(chunk, kind)

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = None) -> DeliveryReport:
        return self._sender.close(timeout)

    def report(self) -> DeliveryReport:
        return self._sender.report()

    # -- synchronous API (the guide's names) ---------------------------------------------
    def send_html(self, text: str) -> Outcome:
        """Deliver a Telegram-HTML message now (split if long); the real result."""
        stop = threading.Event()
        with self._new_client() as client:
            for chunk in split_message(text, self.config.max_message_length):
                out = deliver_with_retries(
                    chunk, lambda t: self._deliver_with(client, t), self._policy, stop, self._bucket
                )
                if not out.ok:
                    log.warning("telegram: message not delivered: %s", out.reason)
                    return out
        return Outcome(True)

    def send_message(self, text: str) -> bool:
        """Send ``text`` (plain text, under the machine line) now; True when Telegram took it."""
        return self.send_html(custom_message(self.identity, text)).ok

    def get_me(self) -> ConnectionCheck:
        """``getMe``: is the token valid and the Bot API reachable?"""
        with self._new_client() as client:
            out, body = self._call(client, "getMe")
        if not out.ok:
            return ConnectionCheck(False, error=out.reason, step="getMe")
        result = body.get("result") or {}
        username = result.get("username") if isinstance(result, dict) else None
        return ConnectionCheck(True, bot_username=username)

    def check_connection(self) -> ConnectionCheck:
        """``getMe`` then a test message to the chat; ok only when both succeeded."""
        me = self.get_me()
        if not me.ok:
            log.warning("telegram: connection test failed at getMe: %s", me.error)
            return me
        out = self.send_html(connection_test_message(self.identity, at=time.time()))
        if not out.ok:
            log.warning("telegram: connection test failed at sendMessage: %s", out.reason)
            return ConnectionCheck(False, me.bot_username, out.reason, "sendMessage")
        log.info("telegram: connection test OK (bot @%s)", me.bot_username)
        return me

    def test_connection(self) -> bool:
        """The guide's check: True only if ``getMe`` and a test message both succeeded."""
        return self.check_connection().ok
