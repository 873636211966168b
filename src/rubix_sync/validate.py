"""Parse a token's IPFS content into typed fields and check it against the token's row.

:func:`validate_token` turns one ``(TokenRow, FetchResult)`` into a
:class:`~rubix_sync.models.Verdict`. It runs once per token on the hot path, so it is a handful
of precompiled regular expressions and no I/O.

Content kinds (``Verdict.content_kind``)
    ``rbt``     whole RBT token: 3-digit level (001..078) + 64 lower-case hex (sha256 of the token
                number), 67 bytes; on an RBT row also the Java-era form ``01`` + 64 hex.
    ``ft``      fungible token: ``<ft_name> <number> <creator DID>``, single spaces.
    ``nft``     JSON object with ``DID`` and ``ArtifactHash``.
    ``hex``     part token or data token: lower-case hex text (of a signed CBOR block).
    ``faucet``  testnet faucet token: ``Faucet Name : <id>, Token Level : L, Token Number : N``.
    ``unknown`` none of the above.

Which kinds each row type accepts: RBT -> rbt, faucet; PART -> hex; DATA -> hex; FT -> ft;
NFT -> nft.

Error codes (``Verdict.errors``; empty exactly when every check passed)
    ``content_unavailable``    the fetch failed (see the FetchResult's error); no other check ran.
    ``not_utf8``               the content is not UTF-8 text; ``Verdict.text`` holds its hex.
    ``empty_content``          the content is zero bytes.
    ``unknown_format``         the content matches no known kind.
    ``type_mismatch``          the content kind does not fit the row's token type (e.g. an RBT
                               row whose content is not an RBT token).
    ``invalid_level``          an RBT or faucet level outside 1..78.
    ``invalid_did``            a DID in the content (FT creator, NFT DID) is not ``bafybmi`` +
                               52 lower-case base32 characters.
    ``invalid_artifact_hash``  an NFT's ArtifactHash is not a CID.
    ``ft_name_mismatch``       the FT content's name differs from the row's ``ft_name``.
    ``creator_did_mismatch``   the FT content's creator DID differs from the row's ``creator_did``.
"""

from __future__ import annotations

import json
import re

from rubix_sync.errors import BlockFormatError
from rubix_sync.ipfs.cid import parse_cid
from rubix_sync.models import FetchResult, TokenRow, Verdict

CONTENT_UNAVAILABLE = "content_unavailable"
NOT_UTF8 = "not_utf8"
EMPTY_CONTENT = "empty_content"
UNKNOWN_FORMAT = "unknown_format"
TYPE_MISMATCH = "type_mismatch"
INVALID_LEVEL = "invalid_level"
INVALID_DID = "invalid_did"
INVALID_ARTIFACT_HASH = "invalid_artifact_hash"
FT_NAME_MISMATCH = "ft_name_mismatch"
CREATOR_DID_MISMATCH = "creator_did_mismatch"

ERROR_CODES = (
    CONTENT_UNAVAILABLE,
    NOT_UTF8,
    EMPTY_CONTENT,
    UNKNOWN_FORMAT,
    TYPE_MISMATCH,
    INVALID_LEVEL,
    INVALID_DID,
    INVALID_ARTIFACT_HASH,
    FT_NAME_MISMATCH,
    CREATOR_DID_MISMATCH,
)

MIN_LEVEL, MAX_LEVEL = 1, 78

ACCEPTED_KINDS: dict[str, frozenset[str]] = {
    "RBT": frozenset({"rbt", "faucet"}),
    "PART": frozenset({"hex"}),
    "DATA": frozenset({"hex"}),
    "FT": frozenset({"ft"}),
    "NFT": frozenset({"nft"}),
}

_RBT = re.compile(r"(\d{3})([0-9a-f]{64})")
_RBT_LEGACY = re.compile(r"(01)([0-9a-f]{64})")
_DID = re.compile(r"bafybmi[a-z2-7]{52}")
_FT = re.compile(r"(\S(?:.*\S)?) (\d+) (baf\S*)", re.DOTALL)
_FAUCET = re.compile(r"Faucet Name : (.+?), Token Level : (\d+), Token Number : (\d+)", re.DOTALL)
_HEX = re.compile(r"(?:[0-9a-f]{2})+")


def is_did(text: object) -> bool:
    """``bafybmi`` + 52 lower-case base32 characters (a CIDv1 dag-pb sha3-256)."""
    return isinstance(text, str) and _DID.fullmatch(text) is not None


def parse_content(text: str, row_type: str | None = None) -> tuple[str, dict[str, object]]:
    """``(content kind, fields)`` of a token's content text (see the module docstring)."""
    n = len(text)
    if n == 67:
        m = _RBT.fullmatch(text)
        if m:
            return "rbt", {"level": int(m.group(1)), "number_hash": m.group(2), "legacy": False}
    elif n == 66 and row_type == "RBT":
        m = _RBT_LEGACY.fullmatch(text)
        if m:
            return "rbt", {"level": 1, "number_hash": m.group(2), "legacy": True}
    if text[:1] == "{":
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "DID" in obj and "ArtifactHash" in obj:
            return "nft", {"did": obj["DID"], "artifact_hash": obj["ArtifactHash"]}
        return "unknown", {}
    if _HEX.fullmatch(text):
        return "hex", {"length_bytes": n // 2}
    if text.startswith("Faucet Name : "):
        m = _FAUCET.fullmatch(text)
        if m:
            return "faucet", {
                "faucet_name": m.group(1),
                "level": int(m.group(2)),
                "number": int(m.group(3)),
            }
    m = _FT.fullmatch(text)
    if m:
        return "ft", {
            "ft_name": m.group(1),
            "ft_number": int(m.group(2)),
            "creator_did": m.group(3),
        }
    return "unknown", {}


def validate_token(row: TokenRow, result: FetchResult) -> Verdict:
    """Parse ``result``'s content and check it against ``row``; see the module docstring."""
    data = result.data
    if result.error is not None or data is None:
        return Verdict(errors=[CONTENT_UNAVAILABLE], text=None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Verdict(errors=[NOT_UTF8], text=data.hex(), content_kind="unknown")
    if not text:
        return Verdict(errors=[EMPTY_CONTENT], text="", content_kind="unknown")

    kind, fields = parse_content(text, row.token_type)
    errors: list[str] = []
    level: int | None = None
    if kind == "unknown":
        errors.append(UNKNOWN_FORMAT)
    else:
        accepted = ACCEPTED_KINDS.get(row.token_type)
        if accepted is not None and kind not in accepted:
            errors.append(TYPE_MISMATCH)
        if kind == "rbt" or kind == "faucet":
            lv = fields["level"]
            if isinstance(lv, int) and MIN_LEVEL <= lv <= MAX_LEVEL:
                level = lv
            else:
                errors.append(INVALID_LEVEL)
        elif kind == "ft":
            creator = fields["creator_did"]
            if not is_did(creator):
                errors.append(INVALID_DID)
            if row.ft_name is not None and row.ft_name != fields["ft_name"]:
                errors.append(FT_NAME_MISMATCH)
            if row.creator_did is not None and row.creator_did != creator:
                errors.append(CREATOR_DID_MISMATCH)
        elif kind == "nft":
            if not is_did(fields["did"]):
                errors.append(INVALID_DID)
            artifact = fields["artifact_hash"]
            try:
                if not isinstance(artifact, str):
                    raise BlockFormatError("not text")
                parse_cid(artifact)
            except BlockFormatError:
                errors.append(INVALID_ARTIFACT_HASH)
    return Verdict(errors=errors, text=text, token_level=level, content_kind=kind, fields=fields)
