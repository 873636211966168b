"""A read-only web dashboard of the fleet, served by the standard library.

``GET /`` is one self-contained page (no external asset: styles, script and the SVG chart are
inline, under a nonce-based Content-Security-Policy) that fetches ``GET /api/fleet`` every few
seconds and re-renders with ``textContent`` only. ``GET /metrics`` serves the fleet table as
Prometheus gauges. Nothing writes to the database.

Access: bound to loopback, the page is open to local users only (and the Host header must name
the loopback address, against DNS rebinding). Any other address needs a bearer token or basic
auth, checked with a constant-time compare on every request.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hmac
import ipaddress
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import ConfigError, redact
from ._db import iso, utc_now
from .reports import hourly_records, recent_errors
from .status import DEFAULT_STALE_AFTER, fleet_status

log = logging.getLogger("rubix_sync.fleet.dashboard")


@dataclass(frozen=True)
class DashboardAuth:
    """Who may read the dashboard: anyone local (nothing set), a bearer token, basic auth."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print the secrets
        return f"DashboardAuth(token={'***' if self.token else None}, user={self.user!r})"

    @classmethod
    def from_options(cls, *, token: str | None, basic_auth: str | None) -> DashboardAuth:
        user = password = None
        if basic_auth:
            user, sep, password = basic_auth.partition(":")
            if not sep or not user or not password:
                raise ConfigError("--basic-auth must be USER:PASSWORD, both non-empty.")
        if token is not None and not token.strip():
            raise ConfigError("--token must not be empty.")
        return cls(token=token or None, user=user, password=password)

    @property
    def configured(self) -> bool:
        return bool(self.token or self.user)

    def allows(self, authorization: str | None, query_token: str | None) -> bool:
        if not self.configured:
            return True
        ok = False
        if self.token:
            if query_token is not None:
                ok |= _same(query_token, self.token)
            if authorization and authorization[:7].lower() == "bearer ":
                ok |= _same(authorization[7:].strip(), self.token)
        if self.user and authorization and authorization[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raw = ""
            user, _, password = raw.partition(":")
            ok |= _same(user, self.user) & _same(password, self.password or "")
        return ok


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _page_template() -> str:
    return resources.files(__package__).joinpath("dashboard.html").read_text(encoding="utf-8")


class Dashboard:
    """The dashboard server. ``bind()`` then ``serve_forever()`` (CLI) or ``start()`` (a
    background thread, for tests and embedding); ``close()`` stops it."""

    def __init__(
        self,
        engine: Engine,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        auth: DashboardAuth | None = None,
        refresh_seconds: float = 5.0,
        stale_after_seconds: float = DEFAULT_STALE_AFTER,
        hours: int = 24,
        errors_limit: int = 15,
        chart_refresh_seconds: float = 60.0,
    ) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.auth = auth or DashboardAuth()
        self.refresh_seconds = refresh_seconds
        self.stale_after_seconds = stale_after_seconds
        self.hours = hours
        self.errors_limit = errors_limit
        self._template = _page_template()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None
        # Several browsers refreshing at once share one set of queries.
        self._cache_seconds = min(2.0, refresh_seconds / 2)
        # The hourly chart scans a day of TokenRecords' synced_at index: refresh it less often.
        self.chart_refresh_seconds = chart_refresh_seconds
        self._hourly: tuple[float, list[dict[str, object]]] | None = None

    # --- data ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready data (cached for a moment)."""
        with self._lock:
            now_mono = time.monotonic()
            if self._cached and now_mono - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            data = self._query()
            self._cached = (now_mono, data)
            return data

    def _query(self) -> dict[str, Any]:
        now = utc_now()
        machines = fleet_status(self.engine, now=now, stale_after_seconds=self.stale_after_seconds)
        mono = time.monotonic()
        if self._hourly is None or mono - self._hourly[0] >= self.chart_refresh_seconds:
            buckets = hourly_records(self.engine, hours=self.hours, now=now, fill_gaps=True)
            self._hourly = (mono, [b.as_dict() for b in buckets])
        hourly = self._hourly[1]
        errors = recent_errors(self.engine, limit=self.errors_limit, hours=self.hours, now=now)
        active = [m for m in machines if m.state == "RUNNING"]
        return {
            "generated_at": iso(now),
            "refresh_seconds": self.refresh_seconds,
            "hours": self.hours,
            "totals": {
                "machines": len(machines),
                "running": len(active),
                "stale": sum(1 for m in machines if m.state == "STALE"),
                "failed": sum(1 for m in machines if m.state == "FAILED"),
                "records": sum(m.records for m in machines),
                "rate": round(sum((m.rate or 0.0 for m in active), 0.0), 3),
                "errors": sum(m.errors for m in machines),
            },
            "machines": [m.as_dict() for m in machines],
            "hourly": hourly,
            "errors": [e.as_dict() for e in errors],
        }

    def metrics_text(self) -> str:
        """The fleet table as Prometheus text exposition."""
        from prometheus_client import CollectorRegistry, Gauge, generate_latest

        data = self.snapshot()
        reg = CollectorRegistry()
        labels = ["machine", "state"]
        gauges = {
            "records": Gauge("rubix_fleet_records", "Records of the latest session", labels,
                             registry=reg),
            "databases_done": Gauge("rubix_fleet_databases_done",
                                    "Databases done in the latest session", labels, registry=reg),
            "total_databases": Gauge("rubix_fleet_databases_total",
                                     "Databases in the latest session", labels, registry=reg),
            "rate": Gauge("rubix_fleet_rate", "Records per second of the latest session", labels,
                          registry=reg),
            "errors": Gauge("rubix_fleet_errors", "Failed fetches plus SQL errors", labels,
                            registry=reg),
            "heartbeat_age_seconds": Gauge("rubix_fleet_heartbeat_age_seconds",
                                           "Seconds since the last heartbeat", labels,
                                           registry=reg),
        }  # fmt: skip
        for m in data["machines"]:
            for key, gauge in gauges.items():
                value = m.get(key)
                if value is not None:
                    gauge.labels(m["machine_name"], m["state"]).set(float(value))
        return generate_latest(reg).decode()

    def page(self, nonce: str) -> str:
        return self._template.replace("{{nonce}}", nonce)

    # --- serving ------------------------------------------------------------------------

    def bind(self) -> None:
        """Open the listening socket (ConfigError: non-loopback without auth, port in use)."""
        if not is_loopback(self.host) and not self.auth.configured:
            raise ConfigError(
                f"Refusing to serve the dashboard on {self.host} without access control: pass "
                "--token TOKEN or --basic-auth USER:PASS (or bind --host 127.0.0.1)."
            )
        handler = _make_handler(self)
        try:
            server = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"Port {self.port} on {self.host} is in use: pick another with --port."
                ) from None
            raise ConfigError(
                f"Cannot listen on {self.host}:{self.port}: {exc.strerror or exc}."
            ) from None
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        if self._server is None:
            self.bind()
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.25)

    def start(self) -> Dashboard:
        """Serve in a daemon thread; returns self."""
        if self._server is None:
            self.bind()
        self._thread = threading.Thread(
            target=self.serve_forever, name="rubix-dashboard", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
                self._thread.join(timeout=5)
                self._thread = None
            server.server_close()

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make_handler(board: Dashboard) -> type[BaseHTTPRequestHandler]:
    def allowed_hosts() -> set[str]:  # the port is known only once bound
        return {f"{h}:{board.port}" for h in ("127.0.0.1", "localhost", "[::1]", board.host)}

    class Handler(BaseHTTPRequestHandler):
        server_version = "rubix-sync-dashboard"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s %s", self.address_string(), redact(format % args))

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            extra: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Frame-Options", "DENY")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload: object) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

        def _authorized(self, query: dict[str, list[str]]) -> bool:
            if not board.auth.configured:
                host = self.headers.get("Host", "")
                if host not in allowed_hosts():
                    self._json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
                    return False
                return True
            tokens = query.get("token")
            token = tokens[0] if tokens else None
            if board.auth.allows(self.headers.get("Authorization"), token):
                return True
            challenge = 'Basic realm="rubix-sync"' if board.auth.user else "Bearer"
            self._send(
                HTTPStatus.UNAUTHORIZED,
                b'{"error": "authentication required"}',
                "application/json; charset=utf-8",
                {"WWW-Authenticate": challenge},
            )
            return False

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if not self._authorized(query):
                return
            path = parts.path
            try:
                if path in ("/", "/index.html"):
                    nonce = secrets.token_urlsafe(16)
                    csp = (
                        "default-src 'none'; "
                        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                        "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                        "form-action 'none'; frame-ancestors 'none'"
                    )
                    self._send(
                        HTTPStatus.OK,
                        board.page(nonce).encode(),
                        "text/html; charset=utf-8",
                        {"Content-Security-Policy": csp},
                    )
                elif path == "/api/fleet":
                    self._json(HTTPStatus.OK, board.snapshot())
                elif path == "/metrics":
                    self._send(
                        HTTPStatus.OK,
                        board.metrics_text().encode(),
                        "text/plain; version=0.0.4; charset=utf-8",
                    )
                elif path == "/favicon.ico":
                    self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            except SQLAlchemyError as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                log.warning("dashboard query failed: %s", redact(reason))
                self._json(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    {"error": redact(f"central database unavailable: {reason}")},
                )

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def _read_only(self) -> None:
            self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "read-only"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _read_only  # noqa: N815

    return Handler
