from __future__ import annotations

import base64
import contextlib
import hashlib

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rubix_sync.errors import BlockFormatError
from rubix_sync.ipfs import Cid, cid_for_block, cid_v0_for_bytes, flatfs_key, parse_cid
from rubix_sync.ipfs.cid import CODEC_DAG_PB, CODEC_RAW, HASH_SHA2_256, HASH_SHA3_256, b58_v0_int
from rubix_sync.ipfs.flatfs import key_for_sha256_int

from .conftest import rbt_content

HELLO = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
RBT_1_0 = "QmUeBM2pNTbyYZ4LrsCNHb3hUTpBwYgW7XHrmJucy9cKvy"
EMPTY = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


def test_known_answers() -> None:
    assert cid_v0_for_bytes(b"hello world\n") == HELLO
    assert (
        rbt_content(1, 0) == b"0015feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"
    )
    assert cid_v0_for_bytes(rbt_content(1, 0)) == RBT_1_0
    assert cid_v0_for_bytes(b"") == EMPTY


def test_parse_v0() -> None:
    c = parse_cid(HELLO)
    assert (c.version, c.codec, c.hash_code) == (0, CODEC_DAG_PB, HASH_SHA2_256)
    assert c.multihash == base58.b58decode(HELLO)
    assert c.digest == c.multihash[2:] and len(c.digest) == 32
    assert str(c) == HELLO
    assert c.to_bytes() == c.multihash


def test_parse_v1_base32_and_others() -> None:
    v0 = parse_cid(HELLO)
    raw = b"\x01\x70" + v0.multihash
    b32 = "b" + base64.b32encode(raw).decode().rstrip("=").lower()
    c = parse_cid(b32)
    assert (c.version, c.codec, c.hash_code, c.digest) == (
        1,
        CODEC_DAG_PB,
        HASH_SHA2_256,
        v0.digest,
    )
    assert str(c) == b32
    assert parse_cid(b32.upper().replace("B", "B", 1)) == c  # 'B' upper-case base32
    assert parse_cid("z" + base58.b58encode(raw).decode()) == c
    assert parse_cid("f" + raw.hex()) == c


def test_raw_codec_and_did() -> None:
    block = b"some raw bytes"
    cid = cid_for_block(block, version=1, codec=CODEC_RAW)
    c = parse_cid(cid)
    assert c.codec == CODEC_RAW and c.matches(block) and not c.matches(block + b"!")
    did = cid_for_block(b"did doc", version=1, codec=CODEC_DAG_PB, hash_code=HASH_SHA3_256)
    assert did.startswith("bafybmi") and len(did) == 59
    d = parse_cid(did)
    assert d.hash_code == HASH_SHA3_256 and d.digest == hashlib.sha3_256(b"did doc").digest()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Qm",
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5O0",  # '0' is not base58
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5l",  # 'l' is not base58
        "xyz",
        "bafy!!!",
        "b" + base64.b32encode(b"\x02\x70\x12\x20" + bytes(32)).decode().rstrip("=").lower(),
        "b" + base64.b32encode(b"\x01\x71\x12\x20" + bytes(32)).decode().rstrip("=").lower(),
        "b" + base64.b32encode(b"\x01\x70\x13\x20" + bytes(32)).decode().rstrip("=").lower(),
        "b" + base64.b32encode(b"\x01\x70\x12\x20" + bytes(31)).decode().rstrip("=").lower(),
        "f017012",
        "Q" * 600,
    ],
)
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(BlockFormatError):
        parse_cid(bad)


def test_parse_rejects_non_text() -> None:
    with pytest.raises(BlockFormatError):
        parse_cid(None)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(BlockFormatError):
        parse_cid(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_fast_codecs_equal_reference(digest: bytes) -> None:
    mh = b"\x12\x20" + digest
    text = base58.b58encode(mh).decode()
    assert b58_v0_int(text) == int.from_bytes(mh, "big")
    key = base64.b32encode(mh).decode().rstrip("=")
    assert flatfs_key(text) == key
    assert key_for_sha256_int(int.from_bytes(mh, "big")) == key
    assert parse_cid(text) == Cid(0, CODEC_DAG_PB, HASH_SHA2_256, digest, mh)


def test_flatfs_key_known() -> None:
    assert flatfs_key(HELLO) == "CIQENVCICS44LLYUDQ5KVN6ALXC6QRHK2X4R6EUFRMBB5OSFO2FUYDQ"
