from __future__ import annotations

import os
from pathlib import Path

import pytest

from rubix_sync.ipfs import CliFetcher, cid_v0_for_bytes
from rubix_sync.models import (
    FETCH_CID_MISMATCH,
    FETCH_ERROR,
    FETCH_INVALID_CID,
    FETCH_NOT_FOUND,
    FETCH_TIMEOUT,
    FETCH_UNREADABLE_REPO,
)

from .conftest import rbt_content
from .standins import write_ipfs_standin


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A stand-in `ipfs` first on PATH and a repo whose `standin/` dir holds the files."""
    bin_dir = tmp_path / "bin"
    write_ipfs_standin(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "calls.log"
    monkeypatch.setenv("STANDIN_LOG", str(log))
    repo = tmp_path / "node" / ".ipfs"
    (repo / "standin").mkdir(parents=True)
    (repo / "config").write_text("{}")
    return repo, log


def _put(repo: Path, data: bytes, as_cid: str | None = None) -> str:
    cid = as_cid or cid_v0_for_bytes(data)
    (repo / "standin" / cid).write_bytes(data)
    return cid


def test_cat_with_ipfs_path(standin: tuple[Path, Path]) -> None:
    repo, log = standin
    contents = [rbt_content(7, i) for i in range(6)]
    cids = [_put(repo, c) for c in contents]
    f = CliFetcher(repo, timeout=10, concurrency=3)
    try:
        results = f.fetch_many(cids)
    finally:
        f.close()
    assert [r.data for r in results] == contents
    calls = log.read_text().splitlines()
    assert len(calls) == 6
    assert all(c.startswith(f"{repo} cat --offline Qm") for c in calls)


def test_failures_are_typed(standin: tuple[Path, Path]) -> None:
    repo, _log = standin
    good = _put(repo, b"good")
    tampered = _put(repo, b"evil", as_cid=cid_v0_for_bytes(b"original"))
    f = CliFetcher(repo, timeout=10, concurrency=2)
    results = f.fetch_many(["garbage", good, tampered, cid_v0_for_bytes(b"absent")])
    f.close()
    assert [r.error for r in results] == [
        FETCH_INVALID_CID,
        None,
        FETCH_CID_MISMATCH,
        FETCH_NOT_FOUND,
    ]
    assert "not found locally" in (results[3].detail or "")


def test_locked_repo(standin: tuple[Path, Path]) -> None:
    repo, _log = standin
    cid = _put(repo, b"x")
    (repo / "standin" / "LOCKED").write_text("")
    [r] = CliFetcher(repo, timeout=10).fetch_many([cid])
    assert r.error == FETCH_UNREADABLE_REPO and "lock" in (r.detail or "")


def test_timeout(standin: tuple[Path, Path]) -> None:
    repo, _log = standin
    cid = _put(repo, b"x")
    (repo / "standin" / "SLOW").write_text("5")
    [r] = CliFetcher(repo, timeout=0.5).fetch_many([cid])
    assert r.error == FETCH_TIMEOUT


def test_missing_binary(tmp_path: Path) -> None:
    [r] = CliFetcher(tmp_path, ipfs_bin=str(tmp_path / "no-ipfs")).fetch_many(
        [cid_v0_for_bytes(b"a")]
    )
    assert r.error == FETCH_ERROR and "cannot run" in (r.detail or "")
