from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rubix_sync.ipfs import (
    BlockstoreFetcher,
    CliFetcher,
    FlatfsWriter,
    RpcFetcher,
    UnavailableFetcher,
    select_fetcher,
)
from rubix_sync.models import FETCH_UNREADABLE_REPO

from .conftest import rbt_content
from .standins import KuboRpcStandIn, write_ipfs_standin


@pytest.fixture
def no_ipfs_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def ipfs_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    write_ipfs_standin(bin_dir)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("STANDIN_LOG", str(tmp_path / "calls.log"))
    return bin_dir / "ipfs"


@pytest.fixture
def rpc() -> Iterator[KuboRpcStandIn]:
    content = rbt_content(1, 0)
    s = KuboRpcStandIn({"QmUeBM2pNTbyYZ4LrsCNHb3hUTpBwYgW7XHrmJucy9cKvy": content}).start()
    yield s
    s.stop()


def _badger(repo: Path) -> Path:
    repo.mkdir(parents=True)
    spec = {
        "mounts": [{"mountpoint": "/blocks", "path": "badgerds", "type": "badgerds"}],
        "type": "mount",
    }
    (repo / "datastore_spec").write_text(json.dumps(spec))
    (repo / "config").write_text("{}")
    return repo


def test_auto_prefers_blockstore(
    writer: FlatfsWriter, rpc: KuboRpcStandIn, ipfs_on_path: Path
) -> None:
    (writer.repo / "api").write_text(rpc.multiaddr)
    choice = select_fetcher(writer.repo)
    assert choice.name == "blockstore" and isinstance(choice.fetcher, BlockstoreFetcher)
    assert "flatfs" in choice.reason
    assert rpc.methods["POST"] == 0  # blockstore chosen without asking the daemon


def test_auto_falls_back_to_rpc(tmp_path: Path, rpc: KuboRpcStandIn, ipfs_on_path: Path) -> None:
    repo = _badger(tmp_path / "node" / ".ipfs")
    (repo / "api").write_text(rpc.multiaddr)
    choice = select_fetcher(repo, timeout=2)
    try:
        assert choice.name == "rpc" and isinstance(choice.fetcher, RpcFetcher)
        assert "kubo 0.21.0" in choice.reason and "badgerds" in choice.reason
        [r] = choice.fetcher.fetch_many(["QmUeBM2pNTbyYZ4LrsCNHb3hUTpBwYgW7XHrmJucy9cKvy"])
        assert r.data == rbt_content(1, 0)
    finally:
        choice.fetcher.close()


def test_auto_falls_back_to_cli(tmp_path: Path, ipfs_on_path: Path) -> None:
    repo = _badger(tmp_path / "node" / ".ipfs")
    (repo / "api").write_text("/ip4/127.0.0.1/tcp/9")  # stale api file, nothing listens
    choice = select_fetcher(repo, timeout=0.5)
    assert choice.name == "cli" and isinstance(choice.fetcher, CliFetcher)
    assert choice.fetcher.ipfs_bin == str(ipfs_on_path)
    assert "blockstore:" in choice.reason and "rpc:" in choice.reason


def test_auto_nothing_works(tmp_path: Path, no_ipfs_on_path: None) -> None:
    repo = _badger(tmp_path / "node" / ".ipfs")
    choice = select_fetcher(repo)
    assert choice.name == "unavailable" and isinstance(choice.fetcher, UnavailableFetcher)
    for part in ("badgerds", "daemon not running", "not found on PATH"):
        assert part in choice.reason
    results = choice.fetcher.fetch_many(["QmA", "QmB"])
    assert [r.error for r in results] == [FETCH_UNREADABLE_REPO] * 2
    assert all(r.detail == choice.reason for r in results)


def test_forced_modes(writer: FlatfsWriter, rpc: KuboRpcStandIn, ipfs_on_path: Path) -> None:
    (writer.repo / "api").write_text(rpc.multiaddr)
    for mode, cls in [("blockstore", BlockstoreFetcher), ("rpc", RpcFetcher), ("cli", CliFetcher)]:
        choice = select_fetcher(writer.repo, mode)
        try:
            assert choice.name == mode and isinstance(choice.fetcher, cls)
            assert choice.reason.startswith("forced;")
        finally:
            choice.fetcher.close()


def test_forced_mode_that_fails_does_not_fall_back(tmp_path: Path, ipfs_on_path: Path) -> None:
    repo = _badger(tmp_path / "r")
    choice = select_fetcher(repo, "blockstore")
    assert choice.name == "unavailable" and "badgerds" in choice.reason
    choice = select_fetcher(repo, "rpc")
    assert choice.name == "unavailable" and "daemon is not running" in choice.reason


def test_rpc_url_configured(tmp_path: Path, rpc: KuboRpcStandIn, no_ipfs_on_path: None) -> None:
    choice = select_fetcher(tmp_path / "missing", rpc_url=rpc.url)
    try:
        assert choice.name == "rpc"
    finally:
        choice.fetcher.close()


def test_bad_mode_never_raises(writer: FlatfsWriter) -> None:
    choice = select_fetcher(writer.repo, "bogus")
    assert choice.name == "unavailable" and "unknown fetch mode" in choice.reason


def test_does_not_raise_on_unreadable_spec(tmp_path: Path, no_ipfs_on_path: None) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "datastore_spec").write_text("{not json")
    choice = select_fetcher(repo)
    assert choice.name == "unavailable" and "cannot read" in choice.reason
    assert os.path.exists(repo / "datastore_spec")
