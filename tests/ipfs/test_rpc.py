from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rubix_sync.errors import ConfigError, RepoUnreadableError
from rubix_sync.ipfs import RpcFetcher, cid_v0_for_bytes
from rubix_sync.ipfs.rpc import api_url_from_multiaddr, api_url_from_repo
from rubix_sync.models import (
    FETCH_CID_MISMATCH,
    FETCH_ERROR,
    FETCH_INVALID_CID,
    FETCH_NOT_FOUND,
    FETCH_TIMEOUT,
)

from .conftest import rbt_content
from .standins import KuboRpcStandIn

CONTENTS = [rbt_content(1 + i % 78, i) for i in range(40)] + [b"x" * (300 * 1024)]
STORE = {cid_v0_for_bytes(c): c for c in CONTENTS}


@pytest.fixture
def server() -> Iterator[KuboRpcStandIn]:
    s = KuboRpcStandIn(dict(STORE)).start()
    yield s
    s.stop()


@pytest.fixture
def fetcher(server: KuboRpcStandIn) -> Iterator[RpcFetcher]:
    f = RpcFetcher(server.multiaddr, timeout=0.5, concurrency=4, retries=3, backoff=0.01)
    yield f
    f.close()


def test_fetches_in_order_with_offline_and_keepalive(
    server: KuboRpcStandIn, fetcher: RpcFetcher
) -> None:
    cids = list(STORE)
    results = fetcher.fetch_many(cids)
    assert [r.cid for r in results] == cids
    assert [r.data for r in results] == CONTENTS
    assert server.methods["GET"] == 0 and server.methods["POST"] == len(cids)
    assert set(server.offline_flags) == {"true"}
    # pooled keep-alive: at most `concurrency` client connections for 41 requests
    assert len(server.connections) <= 4


def test_get_is_refused_by_standin(server: KuboRpcStandIn) -> None:
    # the stand-in behaves like kubo: GET is 405 (so the fetcher must POST)
    r = httpx.get(f"{server.url}/api/v0/cat?arg=x", trust_env=False)
    assert r.status_code == 405


def test_not_found_not_retried(server: KuboRpcStandIn, fetcher: RpcFetcher) -> None:
    absent = cid_v0_for_bytes(b"absent")
    [r] = fetcher.fetch_many([absent])
    assert r.error == FETCH_NOT_FOUND and "not found locally" in (r.detail or "")
    assert server.hits[absent] == 1


def test_client_error_not_retried(server: KuboRpcStandIn, fetcher: RpcFetcher) -> None:
    cid = next(iter(STORE))
    server.status_for[cid] = (400, "some bad request")
    [r] = fetcher.fetch_many([cid])
    assert r.error == FETCH_ERROR and "HTTP 400: some bad request" in (r.detail or "")
    assert server.hits[cid] == 1


def test_server_error_retried_then_succeeds(server: KuboRpcStandIn, fetcher: RpcFetcher) -> None:
    cid = next(iter(STORE))
    server.fail_times[cid] = 2
    [r] = fetcher.fetch_many([cid])
    assert r.ok and r.data == STORE[cid]
    assert server.hits[cid] == 3


def test_server_error_gives_up(server: KuboRpcStandIn, fetcher: RpcFetcher) -> None:
    cid = next(iter(STORE))
    server.fail_times[cid] = 10
    [r] = fetcher.fetch_many([cid])
    assert r.error == FETCH_ERROR and "HTTP 500" in (r.detail or "")
    assert server.hits[cid] == 3


def test_slow_is_timeout(server: KuboRpcStandIn) -> None:
    slow, fast = list(STORE)[:2]
    server.slow.add(slow)
    server.delay = 1.5
    f = RpcFetcher(server.url, timeout=0.2, concurrency=2, retries=2, backoff=0.01)
    try:
        t = time.monotonic()
        r1, r2 = f.fetch_many([slow, fast])
        elapsed = time.monotonic() - t
    finally:
        f.close()
    assert r1.error == FETCH_TIMEOUT and "0.2s" in (r1.detail or "")
    assert r2.ok and r2.data == STORE[fast]
    assert server.hits[slow] == 2  # timeouts are transient: retried
    assert elapsed < 1.4


def test_invalid_and_mismatch(server: KuboRpcStandIn, fetcher: RpcFetcher) -> None:
    good, bad = list(STORE)[:2]
    server.tamper.add(bad)
    r = fetcher.fetch_many(["nonsense", good, bad])
    assert r[0].error == FETCH_INVALID_CID and server.hits["nonsense"] == 0
    assert r[1].ok
    assert r[2].error == FETCH_CID_MISMATCH


def test_unreachable_daemon(tmp_path: Path) -> None:
    s = KuboRpcStandIn({})
    port = s.port
    s.server.server_close()  # nothing listens there now
    f = RpcFetcher(f"/ip4/127.0.0.1/tcp/{port}", timeout=0.3, retries=2, backoff=0.01)
    try:
        [r] = f.fetch_many([next(iter(STORE))])
        with pytest.raises(RepoUnreadableError, match="does not answer"):
            f.probe()
    finally:
        f.close()
    assert r.error == FETCH_ERROR and "cannot reach kubo API" in (r.detail or "")


def test_probe(server: KuboRpcStandIn, fetcher: RpcFetcher) -> None:
    assert fetcher.probe() == "0.21.0"


def test_api_address_parsing(tmp_path: Path) -> None:
    assert api_url_from_multiaddr("/ip4/127.0.0.1/tcp/5023") == "http://127.0.0.1:5023"
    assert api_url_from_multiaddr("/ip6/::1/tcp/5001\n") == "http://[::1]:5001"
    assert api_url_from_multiaddr("/dns4/localhost/tcp/5001/https") == "https://localhost:5001"
    assert api_url_from_multiaddr("http://127.0.0.1:5001/") == "http://127.0.0.1:5001"
    for bad in ["/ip4/127.0.0.1/udp/5001", "/ip4/127.0.0.1/tcp/x", "/unix/tmp/sock/tcp/1", "junk"]:
        with pytest.raises(ConfigError):
            api_url_from_multiaddr(bad)
    with pytest.raises(RepoUnreadableError, match="daemon is not running"):
        api_url_from_repo(tmp_path)
    (tmp_path / "api").write_text("/ip4/127.0.0.1/tcp/5023")
    assert api_url_from_repo(tmp_path) == "http://127.0.0.1:5023"
