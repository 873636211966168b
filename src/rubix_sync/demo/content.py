"""Token contents as a Rubix node stores them in IPFS (``RUBIX_DATA_MODEL.md``)."""

from __future__ import annotations

import base64
import hashlib
import json

# Token supply per level for the first levels (number < supply).
LEVEL_SUPPLY = {1: 5_000_000, 2: 2_425_000, 3: 2_188_563, 4: 2_188_563, 5: 2_079_134}


def make_did(seed: bytes) -> str:
    """A valid DID: CIDv1 (base32, dag-pb, sha3-256) of ``seed``; ``bafybmi`` + 52 characters."""
    cid = b"\x01\x70\x16\x20" + hashlib.sha3_256(seed).digest()
    return "b" + base64.b32encode(cid).decode("ascii").rstrip("=").lower()


def rbt_content(level: int, number: int) -> bytes:
    """A whole RBT token: ``"%03d" % level`` + hex sha256 of the decimal number (67 bytes)."""
    return (f"{level:03d}" + hashlib.sha256(str(number).encode()).hexdigest()).encode("ascii")


def ft_content(name: str, index: int, creator_did: str) -> bytes:
    """An FT token: ``"<ft_name> <i> <creator_did>"``."""
    return f"{name} {index} {creator_did}".encode()


def nft_content(did: str, artifact_hash: str) -> bytes:
    """An NFT token: indented JSON with the DID and the artifact folder's CIDv0."""
    return json.dumps({"DID": did, "ArtifactHash": artifact_hash}, indent=2).encode()


def signed_block_hex(payload: bytes) -> bytes:
    """Hex text of a CBOR-looking signed block (part and data tokens): only its hash is checked."""
    # CBOR map(2): "t" -> payload bytes, "s" -> 64-byte signature. Looks the part; nobody parses
    # it. ``payload`` must be shorter than 256 bytes.
    sig = hashlib.sha512(payload).digest()
    body = b"\xa2\x61t\x58" + bytes([len(payload)]) + payload + b"\x61s\x58\x40" + sig
    return body.hex().encode("ascii")
