from __future__ import annotations

import contextlib
import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rubix_sync.errors import BlockFormatError
from rubix_sync.ipfs.cid import CODEC_RAW, Cid, parse_cid_bytes
from rubix_sync.ipfs.unixfs import (
    CHUNK_SIZE,
    decode_file,
    decode_pbnode,
    decode_single,
    decode_unixfs,
    encode_file,
    encode_leaf,
    encode_node,
)


def _v0(mh: bytes) -> Cid:
    return parse_cid_bytes(mh)


def _store(data: bytes, chunk_size: int = CHUNK_SIZE) -> tuple[Cid, dict[bytes, bytes]]:
    blocks = {}
    root = b""
    for mh, block in encode_file(data, chunk_size=chunk_size):
        blocks[mh] = block
        root = mh
    return _v0(root), blocks


def _getter(blocks: dict[bytes, bytes]):
    def get(cid: Cid) -> bytes:
        try:
            return blocks[cid.multihash]
        except KeyError:
            raise BlockFormatError(f"missing {cid}") from None

    return get


@pytest.mark.parametrize("size", [0, 1, 67, 1000])
def test_single_block_roundtrip(size: int) -> None:
    data = random.Random(size).randbytes(size)
    root, blocks = _store(data)
    assert len(blocks) == 1
    assert decode_single(blocks[root.multihash]) == data
    assert decode_file(root, blocks[root.multihash], _getter(blocks)) == data


def test_empty_file_block() -> None:
    assert encode_leaf(b"") == b"\x0a\x04\x08\x02\x18\x00"
    assert decode_single(encode_leaf(b"")) == b""


def test_multi_block_roundtrip_small_chunks() -> None:
    # small chunks make a 3-level balanced tree cheaply: 400 chunks > 174 links
    data = random.Random(7).randbytes(400 * 10 + 3)
    root, blocks = _store(data, chunk_size=10)
    node = decode_pbnode(blocks[root.multihash])
    assert len(node.links) == 3  # 174 + 174 + 53 chunks under three depth-1 nodes
    ufs = decode_unixfs(node.data or b"")
    assert ufs.filesize == len(data) and sum(ufs.blocksizes) == len(data)
    assert decode_single(blocks[root.multihash]) is None  # has links
    assert decode_file(root, blocks[root.multihash], _getter(blocks)) == data


def test_missing_child_raises_from_getter() -> None:
    data = bytes(3 * CHUNK_SIZE)
    root, blocks = _store(data)
    only_root = {root.multihash: blocks[root.multihash]}
    with pytest.raises(BlockFormatError, match="missing"):
        decode_file(root, blocks[root.multihash], _getter(only_root))


def test_raw_leaves() -> None:
    chunks = [b"abc" * 5, b"def" * 4, b"g"]
    leaves = []
    blocks = {}
    for c in chunks:
        mh = b"\x12\x20" + hashlib.sha256(c).digest()
        blocks[mh] = c
        leaves.append((b"\x01\x55" + mh, len(c), len(c)))
    root_block = encode_node(leaves)
    root = Cid(
        1,
        0x70,
        0x12,
        hashlib.sha256(root_block).digest(),
        b"\x12\x20" + hashlib.sha256(root_block).digest(),
    )
    link_cids = [link.cid for link in decode_pbnode(root_block).links]
    assert all(c.codec == CODEC_RAW and c.version == 1 for c in link_cids)
    assert decode_file(root, root_block, _getter(blocks)) == b"".join(chunks)


def test_not_a_file() -> None:
    directory = b"\x0a\x02\x08\x01"
    with pytest.raises(BlockFormatError, match="not a file"):
        decode_single(directory)


def test_filesize_disagrees() -> None:
    bad = b"\x0a\x07\x08\x02\x12\x01x\x18\x05"
    with pytest.raises(BlockFormatError, match="filesize"):
        decode_single(bad)


def test_repeated_child_dag_is_bounded() -> None:
    # every node links 174 times to the same child: 174**4 paths, must stop at the bound
    leaf = encode_leaf(b"")
    mh = b"\x12\x20" + hashlib.sha256(leaf).digest()
    blocks = {mh: leaf}
    for _ in range(4):
        node = encode_node([(mh, len(blocks[mh]), 0)] * 174)
        mh = b"\x12\x20" + hashlib.sha256(node).digest()
        blocks[mh] = node
    with pytest.raises(BlockFormatError, match="more than 5000 blocks"):
        decode_file(_v0(mh), blocks[mh], _getter(blocks), max_blocks=5000)


def test_deep_chain_is_bounded() -> None:
    leaf = encode_leaf(b"x")
    mh = b"\x12\x20" + hashlib.sha256(leaf).digest()
    blocks = {mh: leaf}
    for _ in range(40):
        node = encode_node([(mh, len(blocks[mh]), 1)])
        mh = b"\x12\x20" + hashlib.sha256(node).digest()
        blocks[mh] = node
    with pytest.raises(BlockFormatError, match="deeper"):
        decode_file(_v0(mh), blocks[mh], _getter(blocks))


def test_size_limit() -> None:
    data = bytes(3 * 100)
    root, blocks = _store(data, chunk_size=100)
    with pytest.raises(BlockFormatError, match="larger"):
        decode_file(root, blocks[root.multihash], _getter(blocks), max_size=250)


# ------------------------------------------------------------------ fuzz

_VALID = [encode_leaf(b""), encode_leaf(b"0015feceb66ffc86f38d952786c6d6"), encode_leaf(bytes(300))]
_TREE_ROOT, _TREE = _store(random.Random(3).randbytes(95), chunk_size=10)
_VALID.append(_TREE[_TREE_ROOT.multihash])


def _decode_all(block: bytes, blocks: dict[bytes, bytes]) -> None:
    with contextlib.suppress(BlockFormatError):
        decode_single(block)
    root = _v0(b"\x12\x20" + hashlib.sha256(block).digest())
    try:
        out = decode_file(root, block, _getter(blocks), max_size=1 << 20, max_blocks=1000)
        assert isinstance(out, bytes)
    except BlockFormatError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_blocks(block: bytes) -> None:
    _decode_all(block, _TREE)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_VALID),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "delete"]),
            st.integers(0, 10_000),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_fuzz_mutated_blocks(block: bytes, edits: list[tuple[str, int, int]]) -> None:
    b = bytearray(block)
    for op, pos, val in edits:
        if not b:
            break
        i = pos % len(b)
        if op == "flip":
            b[i] ^= val or 1
        elif op == "cut":
            del b[i:]
        elif op == "insert":
            b.insert(i, val)
        else:
            del b[i]
    _decode_all(bytes(b), _TREE)


def test_tree_filesize_must_match_leaves() -> None:
    leaf = encode_leaf(b"abc")
    mh = b"\x12\x20" + hashlib.sha256(leaf).digest()
    root = encode_node([(mh, len(leaf), 5)])  # claims 5 bytes, the leaf holds 3
    rmh = b"\x12\x20" + hashlib.sha256(root).digest()
    with pytest.raises(BlockFormatError, match="filesize 5 but its blocks hold 3"):
        decode_file(_v0(rmh), root, _getter({mh: leaf}))
