"""A loopback stand-in for the Telegram Bot API (getMe, sendMessage), with failure knobs.

    with BotApiServer(token=TOKEN) as api:
        cfg = {..., "api_base_url": api.url}
        api.set_mode("429", count=1, retry_after=1)
        ...
        assert api.texts == [...]

Modes (``count`` = how many requests get it before the server is ``ok`` again; None = until
changed): ``ok``; ``429`` (``retry_after``); ``5xx`` (``status``, default 500); ``stall``
(sleep ``delay`` s, then answer ok); ``drop`` (close the connection without answering);
``401`` (every token rejected). ``method="sendMessage"`` limits a mode to one method.
A token other than ``token`` always gets 401, as Telegram does.
sendMessage checks ``parse_mode=HTML`` markup like Telegram (known tags, balanced, entities)
and the 4096-character limit, answering 400 otherwise. Any other path (e.g. an Apprise
``json://`` target) is recorded in ``.other`` and answered 200.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "pre", "code", "a",
    "span", "tg-spoiler", "blockquote",
}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def check_html(text: str) -> str | None:
    """None when Telegram would parse ``text`` as HTML, else the error description."""
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            if not m or m.group(2).lower() not in ALLOWED_TAGS:
                return f"Bad Request: can't parse entities: unsupported start tag at {i}"
            name = m.group(2).lower()
            if m.group(1):
                if not stack or stack[-1] != name:
                    return f"Bad Request: can't parse entities: unmatched end tag {name}"
                stack.pop()
            else:
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, i)
            if not m:
                return f"Bad Request: can't parse entities: bad entity at {i}"
            i = m.end()
        elif ch == ">":
            return f"Bad Request: can't parse entities: stray > at {i}"
        else:
            i += 1
    if stack:
        return f"Bad Request: can't parse entities: unclosed {stack[-1]}"
    return None


@dataclass
class Received:
    method: str
    token: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))


class BotApiServer:
    """ThreadingHTTPServer on 127.0.0.1:<free port>; use as a context manager."""

    def __init__(self, token: str = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz0123") -> None:
        self.token = token
        self.username = "rubix_sync_test_bot"
        self.messages: list[Received] = []  # accepted sendMessage calls, in order
        self.requests: list[Received] = []  # every Bot API request, accepted or not
        self.other: list[tuple[str, bytes]] = []  # non-Bot-API posts (path, body)
        self._lock = threading.Lock()
        self._mode = "ok"
        self._count: int | None = None
        self._opts: dict[str, Any] = {}
        self._generation = 0  # bumped by reset(): late answers of earlier tests are ignored
        self._wake = threading.Event()  # set by reset(): stalled handlers give up
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------
    def set_mode(self, mode: str, count: int | None = None, **opts: Any) -> None:
        assert mode in {"ok", "429", "5xx", "stall", "drop", "401"}, mode
        with self._lock:
            self._mode, self._count, self._opts = mode, count, opts

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self._wake.set()
            self._wake = threading.Event()
            self.messages.clear()
            self.requests.clear()
            self.other.clear()
            self._mode, self._count, self._opts = "ok", None, {}

    @property
    def texts(self) -> list[str]:
        with self._lock:
            return [m.text for m in self.messages]

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _take_mode(self, method: str) -> tuple[str, dict[str, Any]]:
        with self._lock:
            mode, opts = self._mode, dict(self._opts)
            if opts.get("method") not in (None, method):
                return "ok", {}
            if self._count is not None:
                self._count -= 1
                if self._count <= 0:
                    self._mode, self._count, self._opts = "ok", None, {}
            return mode, opts

    def __enter__(self) -> BotApiServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                self._handle(self.rfile.read(n) if n else b"")

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, raw: bytes) -> None:
                m = re.fullmatch(r"/bot([^/]+)/(\w+)", self.path.split("?")[0])
                if not m:
                    with server._lock:
                        server.other.append((self.path, raw))
                    self._reply(200, {"ok": True})
                    return
                token, method = m.group(1), m.group(2)
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    params = json.loads(raw or b"{}")
                else:
                    q = parse_qs((raw or b"").decode() or self.path.partition("?")[2])
                    params = {k: v[0] for k, v in q.items()}
                rec = Received(method, token, params)
                with server._lock:
                    server.requests.append(rec)
                    generation, wake = server._generation, server._wake
                mode, opts = server._take_mode(method)
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # no answer at all
                    return
                if mode == "stall" and wake.wait(float(opts.get("delay", 5.0))):
                    self.close_connection = True  # the test is over: no answer
                    return
                if mode == "429":
                    ra = opts.get("retry_after", 1)
                    self._reply(
                        429,
                        {
                            "ok": False,
                            "error_code": 429,
                            "description": f"Too Many Requests: retry after {ra}",
                            "parameters": {"retry_after": ra},
                        },
                    )
                    return
                if mode == "5xx":
                    st = int(opts.get("status", 500))
                    self._reply(st, {"ok": False, "error_code": st, "description": "Server Error"})
                    return
                if mode == "401" or token != server.token:
                    self._reply(
                        401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
                    )
                    return
                if method == "getMe":
                    self._reply(
                        200,
                        {
                            "ok": True,
                            "result": {"id": 123456, "is_bot": True, "username": server.username},
                        },
                    )
                    return
                if method == "sendMessage":
                    text = str(params.get("text", ""))
                    problem = None
                    if not params.get("chat_id"):
                        problem = "Bad Request: chat_id is empty"
                    elif not text.strip():
                        problem = "Bad Request: message text is empty"
                    elif params.get("parse_mode") == "HTML":
                        problem = check_html(text)
                        plain = html.unescape(re.sub(r"<[^>]*>", "", text))
                        if problem is None and len(plain) > 4096:
                            problem = "Bad Request: message is too long"
                    elif len(text) > 4096:
                        problem = "Bad Request: message is too long"
                    if problem:
                        self._reply(400, {"ok": False, "error_code": 400, "description": problem})
                        return
                    with server._lock:
                        if generation == server._generation:
                            server.messages.append(rec)
                    self._reply(200, {"ok": True, "result": {"message_id": len(server.messages)}})
                    return
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that gave up (timeouts, drops) are part of the tests

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._wake.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
