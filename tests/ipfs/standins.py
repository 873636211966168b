"""Stand-ins for what cannot run here as-is: a kubo RPC server and an ``ipfs`` program."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

NOT_FOUND_MSG = "block was not found locally (offline): ipld: could not find {cid}"


class KuboRpcStandIn:
    """A loopback HTTP server speaking the part of kubo's RPC the fetcher uses.

    Knobs: ``slow`` (CIDs answered after ``delay`` s), ``fail_times`` (CID -> how many 500s to
    answer before success), ``status_for`` (CID -> fixed HTTP status with a kubo error body),
    ``tamper`` (CIDs answered with wrong content).
    """

    def __init__(self, store: dict[str, bytes]) -> None:
        self.store = store
        self.slow: set[str] = set()
        self.delay = 2.0
        self.fail_times: dict[str, int] = {}
        self.status_for: dict[str, tuple[int, str]] = {}
        self.tamper: set[str] = set()
        self.hits: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        self.offline_flags: list[str | None] = []
        self.connections: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str) -> None:
                body = json.dumps({"Message": message, "Code": 0, "Type": "error"}).encode()
                self._send(status, body)

            def do_GET(self) -> None:  # kubo's RPC is POST-only
                with outer._lock:
                    outer.methods["GET"] += 1
                self._send(405, b"405 - Method Not Allowed\n", "text/plain")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                url = urlparse(self.path)
                q = parse_qs(url.query)
                with outer._lock:
                    outer.methods["POST"] += 1
                    outer.connections.add(self.client_address)
                if url.path == "/api/v0/version":
                    self._send(200, json.dumps({"Version": "0.21.0", "Commit": ""}).encode())
                    return
                if url.path != "/api/v0/cat":
                    self._error(404, f"404 page not found: {url.path}")
                    return
                args = q.get("arg") or []
                if not args:
                    self._error(400, 'argument "ipfs-path" is required')
                    return
                cid = args[0]
                with outer._lock:
                    outer.hits[cid] += 1
                    outer.offline_flags.append((q.get("offline") or [None])[0])
                    fails_left = outer.fail_times.get(cid, 0)
                    if fails_left:
                        outer.fail_times[cid] = fails_left - 1
                if cid in outer.slow:
                    time.sleep(outer.delay)
                if fails_left:
                    self._error(500, "internal error: try again")
                    return
                if cid in outer.status_for:
                    status, message = outer.status_for[cid]
                    self._error(status, message)
                    return
                if not cid.startswith(("Qm", "b")):
                    self._error(500, f'invalid path "{cid}": selected encoding not supported')
                    return
                data = outer.store.get(cid)
                if data is None:
                    self._error(500, NOT_FOUND_MSG.format(cid=cid))
                    return
                if cid in outer.tamper:
                    data = data + b"!"
                self._send(200, data, "text/plain")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that timed out and hung up is expected in slow mode

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.multiaddr = f"/ip4/127.0.0.1/tcp/{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> KuboRpcStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


IPFS_SCRIPT = '''#!{python}
"""Stand-in for kubo's `ipfs cat`: serves files from $IPFS_PATH/standin/<cid>."""
import os, sys, time
args = sys.argv[1:]
with open(os.path.join(os.environ["STANDIN_LOG"]), "a") as log:
    log.write(os.environ.get("IPFS_PATH", "") + " " + " ".join(args) + "\\n")
if not args or args[0] != "cat":
    sys.stderr.write("Error: unknown command\\n"); sys.exit(1)
cid = args[-1]
store = os.path.join(os.environ["IPFS_PATH"], "standin")
if os.path.exists(os.path.join(store, "SLOW")):
    time.sleep(float(open(os.path.join(store, "SLOW")).read()))
if os.path.exists(os.path.join(store, "LOCKED")):
    sys.stderr.write("Error: someone else has the lock\\n"); sys.exit(1)
if not cid.startswith(("Qm", "b")):
    sys.stderr.write('Error: invalid path "%s": selected encoding not supported\\n' % cid)
    sys.exit(1)
p = os.path.join(store, cid)
if not os.path.exists(p):
    msg = "Error: block was not found locally (offline): ipld: could not find %s\\n"
    sys.stderr.write(msg % cid)
    sys.exit(1)
sys.stdout.buffer.write(open(p, "rb").read())
'''


def write_ipfs_standin(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "ipfs"
    path.write_text(IPFS_SCRIPT.format(python=sys.executable))
    path.chmod(0o755)
    return path
