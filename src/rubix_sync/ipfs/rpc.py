"""Fetch through the node's kubo daemon: the HTTP RPC API (``POST /api/v0/cat``).

The address comes from ``<repo>/api`` (a multiaddr such as ``/ip4/127.0.0.1/tcp/5023``, written
by the daemon while it runs) or is given. Requests carry ``offline=true`` so a block the node
does not hold fails at once instead of being searched for on the network. One pooled keep-alive
``httpx`` client, bounded concurrency (a thread pool), a per-request timeout, and retries with
exponential backoff on transient failures only (timeouts, connection errors, 5xx other than a
kubo "not found"). The content is verified against its CID (re-encoded as kubo would).

Kubo's error body is JSON ``{"Message": ..., "Code": ..., "Type": "error"}``; its message is
mapped to a failure kind (``not found`` -> ``not_found``, an invalid path/CID -> ``invalid_cid``).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from rubix_sync.errors import (
    BlockFormatError,
    ConfigError,
    FetchTransientError,
    RepoUnreadableError,
    redact,
)
from rubix_sync.ipfs.base import PooledFetcher, content_matches
from rubix_sync.ipfs.cid import parse_cid
from rubix_sync.ipfs.unixfs import DEFAULT_MAX_FILE_SIZE
from rubix_sync.models import (
    FETCH_CID_MISMATCH,
    FETCH_ERROR,
    FETCH_INVALID_CID,
    FETCH_NOT_FOUND,
    FETCH_TIMEOUT,
    FetchResult,
)


class _Transient(FetchTransientError):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def api_url_from_multiaddr(addr: str) -> str:
    """``/ip4/127.0.0.1/tcp/5023`` -> ``http://127.0.0.1:5023`` (also ip6, dns, dns4, dns6).

    An ``http://`` or ``https://`` URL is returned as it is. Raises :class:`ConfigError`.
    """
    text = addr.strip()
    if text.startswith(("http://", "https://")):
        return text.rstrip("/")
    parts = text.strip("/").split("/")
    if len(parts) < 4 or parts[2] != "tcp":
        raise ConfigError(
            f"cannot use kubo API address {text!r}: expected a multiaddr like "
            "/ip4/127.0.0.1/tcp/5001 or an http:// URL"
        )
    proto, host, port = parts[0], parts[1], parts[3]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"bad TCP port in kubo API address {text!r}")
    scheme = "https" if len(parts) > 4 and parts[4] == "https" else "http"
    if proto == "ip6":
        host = f"[{host}]"
    elif proto not in ("ip4", "dns", "dns4", "dns6"):
        raise ConfigError(f"unsupported protocol {proto!r} in kubo API address {text!r}")
    return f"{scheme}://{host}:{port}"


def api_url_from_repo(repo: Path) -> str:
    """The daemon's API URL from ``<repo>/api``; :class:`RepoUnreadableError` when absent."""
    path = Path(repo) / "api"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RepoUnreadableError(
            f"{path} not found: the node's kubo daemon is not running"
        ) from None
    except OSError as exc:
        raise RepoUnreadableError(f"cannot read {path}: {exc}") from exc
    try:
        return api_url_from_multiaddr(text)
    except ConfigError as exc:
        raise RepoUnreadableError(str(exc)) from exc


def _kubo_message(resp: httpx.Response) -> str:
    try:
        body = json.loads(resp.content[:65536])
        if isinstance(body, dict) and isinstance(body.get("Message"), str):
            return body["Message"]
    except ValueError:
        pass
    text = resp.content[:300].decode("utf-8", "replace").strip()
    return text or resp.reason_phrase


def classify_message(message: str) -> str | None:
    """Failure kind for a kubo error message, or None when it says nothing specific."""
    m = message.lower()
    if "not found" in m or "no link named" in m:
        return FETCH_NOT_FOUND
    if "deadline exceeded" in m or "timeout" in m:
        return FETCH_TIMEOUT
    if (
        "invalid cid" in m
        or "invalid path" in m
        or "selected encoding not supported" in m
        or "failed to decode" in m
        or "invalid ipfs path" in m
    ):
        return FETCH_INVALID_CID
    return None


class RpcFetcher(PooledFetcher):
    """Fetch files with ``POST /api/v0/cat?arg=<cid>&offline=true``."""

    name = "rpc"

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float = 10.0,
        concurrency: int = 8,
        retries: int = 3,
        backoff: float = 0.2,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    ) -> None:
        super().__init__(concurrency)
        self.api_url = api_url_from_multiaddr(api_url)
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.max_file_size = max_file_size
        self._client = httpx.Client(
            base_url=self.api_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
            trust_env=False,
        )

    @classmethod
    def from_repo(cls, repo: Path, **kwargs: float | int) -> RpcFetcher:
        return cls(api_url_from_repo(repo), **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"RpcFetcher({redact(self.api_url)!r})"

    def probe(self) -> str:
        """``POST /api/v0/version``: the daemon's version, or :class:`RepoUnreadableError`."""
        try:
            resp = self._client.post("/api/v0/version", timeout=min(self.timeout, 5.0))
        except httpx.HTTPError as exc:
            raise RepoUnreadableError(
                f"kubo API at {redact(self.api_url)} does not answer: {type(exc).__name__}"
            ) from exc
        if resp.status_code != 200:
            raise RepoUnreadableError(
                f"kubo API at {redact(self.api_url)} answered {resp.status_code} to /api/v0/version"
            )
        try:
            body = resp.json()
            return str(body.get("Version", "?"))
        except ValueError:
            raise RepoUnreadableError(
                f"{redact(self.api_url)} is not a kubo API (no JSON from /api/v0/version)"
            ) from None

    def close(self) -> None:
        super().close()
        self._client.close()

    # ------------------------------------------------------------------ one CID

    def _fetch_one(self, text: str) -> FetchResult:
        try:
            cid = parse_cid(text)
        except BlockFormatError as exc:
            return FetchResult(str(text), error=FETCH_INVALID_CID, detail=str(exc))
        try:
            data = self._cat_with_retries(text)
        except _Transient as exc:
            return FetchResult(text, error=exc.kind, detail=exc.detail)
        except _Terminal as exc:
            return FetchResult(text, error=exc.kind, detail=exc.detail)
        verdict = content_matches(cid, data)
        if verdict is False:
            return FetchResult(
                text,
                error=FETCH_CID_MISMATCH,
                detail="the daemon's content does not re-encode to its CID",
            )
        return FetchResult(text, data)

    def _cat_with_retries(self, text: str) -> bytes:
        retrying = Retrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=self.backoff, max=5.0),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._cat(text)
        except RetryError as exc:  # pragma: no cover - reraise=True re-raises the last error
            raise _Terminal(FETCH_ERROR, str(exc)) from exc
        raise _Terminal(FETCH_ERROR, "no attempt made")  # pragma: no cover

    def _cat(self, text: str) -> bytes:
        where = redact(self.api_url)
        try:
            with self._client.stream(
                "POST", "/api/v0/cat", params={"arg": text, "offline": "true"}
            ) as resp:
                if resp.status_code == 200:
                    chunks = []
                    total = 0
                    for chunk in resp.iter_bytes():
                        total += len(chunk)
                        if total > self.max_file_size:
                            raise _Terminal(
                                FETCH_ERROR, f"content larger than {self.max_file_size} bytes"
                            )
                        chunks.append(chunk)
                    trailer = resp.headers.get("X-Stream-Error")
                    if trailer:
                        raise _Transient(FETCH_ERROR, f"kubo stream error: {trailer}")
                    return b"".join(chunks)
                resp.read()
        except httpx.TimeoutException as exc:
            raise _Transient(
                FETCH_TIMEOUT, f"no answer from {where} within {self.timeout:g}s"
            ) from exc
        except httpx.TransportError as exc:
            raise _Transient(
                FETCH_ERROR, f"cannot reach kubo API at {where}: {type(exc).__name__}"
            ) from exc
        message = _kubo_message(resp)
        kind = classify_message(message)
        detail = f"HTTP {resp.status_code}: {message[:300]}"
        if kind == FETCH_TIMEOUT:
            raise _Transient(kind, detail)
        if kind is not None:
            raise _Terminal(kind, detail)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _Transient(FETCH_ERROR, detail)
        raise _Terminal(FETCH_ERROR, detail)


class _Terminal(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
