from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rubix_sync.errors import BlockFormatError, RepoUnreadableError
from rubix_sync.ipfs import BlockstoreFetcher, Cid, FlatfsWriter, cid_for_block, cid_v0_for_bytes
from rubix_sync.ipfs.blockstore import _leaf_fast
from rubix_sync.ipfs.cid import CODEC_RAW, parse_cid
from rubix_sync.ipfs.unixfs import CHUNK_SIZE, decode_single, encode_file, encode_leaf, encode_node
from rubix_sync.models import (
    FETCH_CID_MISMATCH,
    FETCH_INVALID_CID,
    FETCH_MALFORMED,
    FETCH_NOT_FOUND,
    FETCH_UNREADABLE_REPO,
)

from .conftest import rbt_content


def test_reads_writer_repo_in_order(writer: FlatfsWriter) -> None:
    contents = [rbt_content(1 + i % 78, i) for i in range(50)] + [b"", b"x" * (CHUNK_SIZE * 2 + 3)]
    cids = [writer.put_file(c) for c in contents]
    f = BlockstoreFetcher(writer.repo)
    results = f.fetch_many(cids)
    assert [r.cid for r in results] == cids
    assert [r.data for r in results] == contents
    assert all(r.ok and r.error is None for r in results)
    f.close()


@pytest.mark.parametrize(
    "shard",
    [
        "/repo/flatfs/shard/v1/next-to-last/2",
        "/repo/flatfs/shard/v1/next-to-last/3",
        "/repo/flatfs/shard/v1/prefix/2",
        "/repo/flatfs/shard/v1/suffix/4",
    ],
)
def test_shard_functions(make_writer, shard: str) -> None:
    w = make_writer(shard=shard)
    cid = w.put_file(b"hello world\n")
    key = "CIQENVCICS44LLYUDQ5KVN6ALXC6QRHK2X4R6EUFRMBB5OSFO2FUYDQ"
    n = int(shard.rsplit("/", 1)[1])
    expect = {
        "next-to-last": key[-n - 1 : -1],
        "prefix": key[:n],
        "suffix": key[-n:],
    }[shard.split("/")[-2]]
    assert (w.blocks / expect / f"{key}.data").is_file()
    assert json.loads((w.repo / "datastore_spec").read_text())["mounts"][0]["shardFunc"] == shard
    [r] = BlockstoreFetcher(w.repo).fetch_many([cid])
    assert r.data == b"hello world\n"


def test_badger_repo_is_unreadable(tmp_path: Path) -> None:
    repo = tmp_path / "badger"
    repo.mkdir()
    spec = {
        "mounts": [
            {"mountpoint": "/blocks", "path": "badgerds", "type": "badgerds"},
            {"mountpoint": "/", "path": "datastore", "type": "levelds"},
        ],
        "type": "mount",
    }
    (repo / "datastore_spec").write_text(json.dumps(spec))
    with pytest.raises(RepoUnreadableError, match="badgerds.*not flatfs"):
        BlockstoreFetcher(repo)


def test_missing_repo_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(RepoUnreadableError, match="not an initialised kubo repo"):
        BlockstoreFetcher(tmp_path / "nope")


def test_unknown_shard_is_unreadable(make_writer) -> None:
    w = make_writer()
    (w.blocks / "SHARDING").write_text("/repo/flatfs/shard/v2/weird/2\n")
    with pytest.raises(RepoUnreadableError, match="unknown flatfs shard"):
        BlockstoreFetcher(w.repo)


def test_tampered_block_is_cid_mismatch(writer: FlatfsWriter) -> None:
    good = rbt_content(3, 99)
    cid = writer.put_file(good)
    writer.put_block(cid, encode_leaf(rbt_content(3, 100)))
    [r] = BlockstoreFetcher(writer.repo).fetch_many([cid])
    assert r.error == FETCH_CID_MISMATCH and r.data is None
    assert "tampered" in (r.detail or "")


def test_tampered_child_block_is_cid_mismatch(writer: FlatfsWriter) -> None:
    data = os.urandom(CHUNK_SIZE + 10)
    cid = writer.put_file(data)
    first_leaf_mh = next(iter(encode_file(data)))[0]
    leaf_cid = str(Cid(0, 0x70, 0x12, first_leaf_mh[2:], first_leaf_mh))
    writer.put_block(leaf_cid, encode_leaf(b"evil"))
    [r] = BlockstoreFetcher(writer.repo).fetch_many([cid])
    assert r.error == FETCH_CID_MISMATCH and leaf_cid in (r.detail or "")


def test_missing_block_and_child(writer: FlatfsWriter) -> None:
    absent = cid_v0_for_bytes(b"never stored")
    data = os.urandom(CHUNK_SIZE + 10)
    cid = writer.put_file(data)
    leaf_mh = next(iter(encode_file(data)))[0]
    path = writer.block_path(str(Cid(0, 0x70, 0x12, leaf_mh[2:], leaf_mh)))
    path.unlink()
    r1, r2 = BlockstoreFetcher(writer.repo).fetch_many([absent, cid])
    assert r1.error == FETCH_NOT_FOUND and r1.data is None
    assert r2.error == FETCH_NOT_FOUND and "child block" in (r2.detail or "")


def test_malformed_block(writer: FlatfsWriter) -> None:
    junk = b"\x0a\x05\x08\x02\x12\x09ab"  # hashes to its own CID, but is truncated
    cid = cid_for_block(junk)
    writer.put_block(cid, junk)
    [r] = BlockstoreFetcher(writer.repo).fetch_many([cid])
    assert r.error == FETCH_MALFORMED and "truncated" in (r.detail or "")


def test_invalid_cids_fail_alone(writer: FlatfsWriter) -> None:
    good = writer.put_file(b"ok")
    results = BlockstoreFetcher(writer.repo).fetch_many(
        ["not-a-cid", good, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5l", "", good]
    )
    assert [r.error for r in results] == [
        FETCH_INVALID_CID,
        None,
        FETCH_INVALID_CID,
        FETCH_INVALID_CID,
        None,
    ]
    assert results[1].data == b"ok" and results[4].data == b"ok"


def test_cidv1_and_raw_leaves(writer: FlatfsWriter) -> None:
    # CIDv1 dag-pb root over raw leaves, as `ipfs add --cid-version 1` would store it
    chunks = [b"a" * 10, b"b" * 7]
    links = []
    for c in chunks:
        leaf_cid = cid_for_block(c, version=1, codec=CODEC_RAW)
        writer.put_block(leaf_cid, c)
        links.append((parse_cid(leaf_cid).to_bytes(), len(c), len(c)))
    root = encode_node(links)
    root_cid = cid_for_block(root, version=1)
    writer.put_block(root_cid, root)
    raw_cid = cid_for_block(b"plain", version=1, codec=CODEC_RAW)
    writer.put_block(raw_cid, b"plain")
    v1_leaf = encode_leaf(b"v1 single")
    v1_cid = cid_for_block(v1_leaf, version=1)
    writer.put_block(v1_cid, v1_leaf)
    r = BlockstoreFetcher(writer.repo).fetch_many([root_cid, raw_cid, v1_cid])
    assert [x.data for x in r] == [b"".join(chunks), b"plain", b"v1 single"]


def test_never_touches_repo_lock(writer: FlatfsWriter) -> None:
    cids = [writer.put_file(rbt_content(1, i)) for i in range(5)]
    lock = writer.repo / "repo.lock"
    f = BlockstoreFetcher(writer.repo)
    assert all(r.ok for r in f.fetch_many(cids))
    assert not lock.exists()  # never created
    lock.write_text("held by a running daemon")
    before = lock.stat()
    assert all(r.ok for r in f.fetch_many(cids))  # a held lock does not stop reading
    after = lock.stat()
    assert lock.read_text() == "held by a running daemon"
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_does_not_write_into_repo(writer: FlatfsWriter) -> None:
    cids = [writer.put_file(rbt_content(2, i)) for i in range(5)] + [cid_v0_for_bytes(b"absent")]
    snapshot = sorted((p, p.stat().st_mtime_ns) for p in writer.repo.rglob("*"))
    BlockstoreFetcher(writer.repo).fetch_many(cids)
    assert sorted((p, p.stat().st_mtime_ns) for p in writer.repo.rglob("*")) == snapshot


def test_permission_denied_is_unreadable() -> None:
    from nobody import as_nobody, shared_tmp

    def fetch(repo: Path, cids: list[str]) -> list[tuple[str | None, str | None]]:
        return [(r.error, r.detail) for r in BlockstoreFetcher(repo).fetch_many(cids)]

    with shared_tmp() as base:
        w = FlatfsWriter(base / ".ipfs")
        w.init_repo()
        for p in [w.repo, *w.repo.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        secret, public = w.put_file(b"secret"), w.put_file(b"public")
        w.block_path(secret).chmod(0)
        w.block_path(public).chmod(0o644)
        (err_secret, _), (err_public, _) = as_nobody(fetch, w.repo, [secret, public])
    assert err_secret == FETCH_UNREADABLE_REPO
    assert err_public is None


def _mutate(block: bytes, pos: int, val: int, cut: bool) -> bytes:
    if not block:
        return block
    i = pos % len(block)
    return block[:i] if cut else block[:i] + bytes((val,)) + block[i + 1 :]


@pytest.mark.parametrize(
    "block",
    [
        b"\x0a\x02\x08\x02",
        b"\x0a\x04\x08\x02\x12\x05",
        b"\x0a\x06\x08\x02\x12\x01x\x18",
        b"\x0a\x80",
    ],
)
def test_fast_leaf_path_on_truncated_blocks(block: bytes) -> None:
    assert _leaf_fast(block) is None


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=200).map(encode_leaf),
        st.tuples(
            st.binary(max_size=300).map(encode_leaf),
            st.integers(0, 400),
            st.integers(0, 255),
            st.booleans(),
        ).map(lambda t: _mutate(*t)),
    )
)
def test_fast_leaf_path_agrees_with_decoder(block: bytes) -> None:
    fast = _leaf_fast(block)  # never raises
    if fast is None:
        return
    assert decode_single(block) == fast


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=20_000))
def test_fast_leaf_path_accepts_every_leaf(data: bytes) -> None:
    assert _leaf_fast(encode_leaf(data)) == data


def test_block_hash_checked_even_for_valid_leaf(writer: FlatfsWriter) -> None:
    cid = writer.put_file(b"A")
    writer.put_block(cid, encode_leaf(b"B"))
    assert hashlib.sha256(encode_leaf(b"B")).digest() != parse_cid(cid).digest
    [r] = BlockstoreFetcher(writer.repo).fetch_many([cid])
    assert r.error == FETCH_CID_MISMATCH


def test_block_format_error_is_typed() -> None:
    with pytest.raises(BlockFormatError):
        decode_single(b"\xff")


def test_fetcher_pickles_for_worker_processes(make_writer) -> None:
    w = make_writer(shard="/repo/flatfs/shard/v1/prefix/3")
    cid = w.put_file(b"across processes")
    f = pickle.loads(pickle.dumps(BlockstoreFetcher(w.repo)))
    assert f.fetch_many([cid])[0].data == b"across processes"
