from __future__ import annotations

import hashlib
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rubix_sync import validate
from rubix_sync.models import FETCH_NOT_FOUND, FetchResult, TokenRow
from rubix_sync.validate import ERROR_CODES, is_did, validate_token

DID = "bafybmi" + "a" * 52
DID2 = "bafybmi" + "b2" * 26
ART = "QmUeBM2pNTbyYZ4LrsCNHb3hUTpBwYgW7XHrmJucy9cKvy"


def rbt(level: int, number: int) -> bytes:
    return b"%03d" % level + hashlib.sha256(str(number).encode()).hexdigest().encode()


def check(token_type: str, data: bytes | None, **row: object):
    r = TokenRow(token_type=token_type, token_id="QmX", **row)  # type: ignore[arg-type]
    res = (
        FetchResult("QmX", data) if data is not None else FetchResult("QmX", error=FETCH_NOT_FOUND)
    )
    return validate_token(r, res)


def test_rbt_ok() -> None:
    v = check("RBT", rbt(1, 0))
    assert v.errors == [] and v.content_kind == "rbt" and v.token_level == 1
    assert v.text == "0015feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"
    assert v.fields["number_hash"] == hashlib.sha256(b"0").hexdigest()
    assert check("RBT", rbt(78, 5)).token_level == 78


@pytest.mark.parametrize("level", [0, 79, 999])
def test_rbt_invalid_level(level: int) -> None:
    v = check("RBT", rbt(level, 1))
    assert v.errors == ["invalid_level"] and v.token_level is None


def test_rbt_legacy_two_digit() -> None:
    legacy = b"01" + hashlib.sha256(b"7").hexdigest().encode()
    v = check("RBT", legacy)
    assert v.errors == [] and v.token_level == 1 and v.fields["legacy"] is True
    assert check("PART", legacy).content_kind == "hex"  # only an RBT row reads it as RBT


def test_rbt_row_with_other_content() -> None:
    assert check("RBT", b"ab" * 200).errors == ["type_mismatch"]
    assert check("RBT", rbt(1, 0).upper()).errors == ["unknown_format"]
    assert check("RBT", rbt(1, 0) + b"\n").errors == ["unknown_format"]


def test_part_and_data() -> None:
    for t in ("PART", "DATA"):
        v = check(t, b"a1b2" * 50)
        assert v.errors == [] and v.content_kind == "hex" and v.fields["length_bytes"] == 100
        assert check(t, rbt(1, 0)).errors == ["type_mismatch"]
    assert check("PART", b"abc").errors == ["unknown_format"]  # odd length


def test_ft() -> None:
    content = f"My Coin 12 {DID}".encode()
    v = check("FT", content, ft_name="My Coin", creator_did=DID)
    assert v.errors == [] and v.content_kind == "ft"
    assert v.fields == {"ft_name": "My Coin", "ft_number": 12, "creator_did": DID}
    assert check("FT", content).errors == []  # row without the facts: nothing to compare
    assert check("FT", content, ft_name="Other").errors == ["ft_name_mismatch"]
    assert check("FT", content, creator_did=DID2).errors == ["creator_did_mismatch"]
    bad = check("FT", b"Coin 1 bafybmiTOOSHORT", creator_did="bafybmiTOOSHORT")
    assert bad.errors == ["invalid_did"]
    assert check("RBT", content).errors == ["type_mismatch"]


def test_nft() -> None:
    content = json.dumps({"DID": DID, "ArtifactHash": ART}, indent=4).encode()
    v = check("NFT", content)
    assert v.errors == [] and v.content_kind == "nft" and v.fields["did"] == DID
    assert check("NFT", json.dumps({"DID": "x", "ArtifactHash": ART}).encode()).errors == [
        "invalid_did"
    ]
    assert check("NFT", json.dumps({"DID": DID, "ArtifactHash": "zz"}).encode()).errors == [
        "invalid_artifact_hash"
    ]
    assert check("NFT", b'{"other": 1}').errors == ["unknown_format"]
    assert check("NFT", b"{broken").errors == ["unknown_format"]
    assert check("FT", content).errors == ["type_mismatch"]


def test_faucet() -> None:
    v = check("RBT", b"Faucet Name : faucet-7, Token Level : 3, Token Number : 1234")
    assert v.errors == [] and v.content_kind == "faucet" and v.token_level == 3
    assert v.fields == {"faucet_name": "faucet-7", "level": 3, "number": 1234}
    assert check("RBT", b"Faucet Name : f, Token Level : 99, Token Number : 1").errors == [
        "invalid_level"
    ]


def test_fetch_failed() -> None:
    v = check("RBT", None)
    assert v.errors == ["content_unavailable"] and v.text is None


def test_not_utf8_and_empty() -> None:
    v = check("PART", b"\xff\xfe\x00")
    assert v.errors == ["not_utf8"] and v.text == "fffe00"
    v = check("RBT", b"")
    assert v.errors == ["empty_content"] and v.text == ""


def test_unknown() -> None:
    assert check("DATA", "héllo wörld".encode()).errors == ["unknown_format"]


def test_did_format() -> None:
    assert is_did(DID) and is_did(DID2)
    assert not is_did(DID.upper()) and not is_did(DID + "a") and not is_did("bafybmi" + "1" * 52)
    assert not is_did(None)


def test_every_code_documented() -> None:
    doc = validate.__doc__ or ""
    for code in ERROR_CODES:
        assert f"``{code}``" in doc, code


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["RBT", "PART", "FT", "NFT", "DATA"]))
def test_any_content_gives_known_codes(data: bytes, token_type: str) -> None:
    v = check(token_type, data)
    assert set(v.errors) <= set(ERROR_CODES)
    assert v.text is not None
    if not v.errors:
        assert v.content_kind != "unknown"
    assert re.fullmatch(r"rbt|ft|nft|hex|faucet|unknown", v.content_kind or "")
