"""The values that travel along one token's way.

``discover`` yields :class:`Node`; ``source`` yields :class:`TokenRow`; ``ipfs`` yields
:class:`FetchResult`; ``validate`` yields :class:`Verdict`; the pipeline joins them into a
:class:`TokenRecord` that ``sink`` writes. All are plain, picklable dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_TYPES = ("RBT", "PART", "FT", "NFT", "DATA")

# Failure kinds of a fetch, stored in TokenRecords.ipfs_error as "<kind>: <detail>".
FETCH_NOT_FOUND = "not_found"
FETCH_TIMEOUT = "timeout"
FETCH_CID_MISMATCH = "cid_mismatch"
FETCH_UNREADABLE_REPO = "unreadable_repo"
FETCH_MALFORMED = "malformed_block"
FETCH_INVALID_CID = "invalid_cid"
FETCH_ERROR = "fetch_error"
FETCH_KINDS = (
    FETCH_NOT_FOUND,
    FETCH_TIMEOUT,
    FETCH_CID_MISMATCH,
    FETCH_UNREADABLE_REPO,
    FETCH_MALFORMED,
    FETCH_INVALID_CID,
    FETCH_ERROR,
)


@dataclass(frozen=True, slots=True)
class Node:
    """One Rubix node found on disk."""

    name: str
    """Unique node name (the folder holding ``Rubix/``), made unique when two collide."""
    db_path: Path
    """``<node>/Rubix/rubix.db`` (or ``rubixtest.db``)."""
    ipfs_repo: Path
    """The node's kubo repo, ``<node>/.ipfs`` unless configured."""


@dataclass(slots=True)
class TokenRow:
    """One token row as read from a node database, schema differences already smoothed out."""

    token_type: str  # one of TOKEN_TYPES
    token_id: str
    did: str | None = None
    owned: bool = False
    token_status: int | None = None
    token_value: float | None = None
    parent_token_id: str | None = None
    ft_name: str | None = None
    creator_did: str | None = None
    source_updated_at: str | None = None  # ISO-8601 text as found, or None


@dataclass(slots=True)
class FetchResult:
    """Content of one CID, or a typed failure (``error`` is one of ``FETCH_KINDS``)."""

    cid: str
    data: bytes | None = None
    error: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.data is not None

    def error_text(self) -> str | None:
        """``"<kind>: <detail>"`` as stored in ``TokenRecords.ipfs_error``."""
        if self.error is None:
            return None
        return f"{self.error}: {self.detail}" if self.detail else self.error


@dataclass(slots=True)
class Verdict:
    """What validation concluded about one token."""

    errors: list[str] = field(default_factory=list)
    """Error codes; empty exactly when the token passed every check with its content present."""
    text: str | None = None
    """The content as text (UTF-8, or hex of the bytes when it is not text), for ``ipfs_data``."""
    token_level: int | None = None
    content_kind: str | None = None
    """``rbt``, ``ft``, ``nft``, ``hex``, ``faucet`` or ``unknown``."""
    fields: dict[str, object] = field(default_factory=dict)
    """Parsed fields (level, number hash, FT name, DID, artifact hash...)."""


@dataclass(slots=True)
class TokenRecord:
    """One row of the central ``TokenRecords`` table."""

    machine_name: str
    source_ip: str | None
    node_name: str
    db_path: str
    token_type: str
    token_id: str
    did: str | None
    owned: bool
    token_status: int | None
    token_value: float | None
    parent_token_id: str | None
    ft_name: str | None
    creator_did: str | None
    token_level: int | None
    ipfs_data: str | None
    ipfs_fetched: bool
    ipfs_error: str | None
    validation_errors: str | None  # JSON list of codes, or None exactly when all checks passed
    source_updated_at: str | None
    synced_at: str  # ISO-8601 UTC


RecordTuple = tuple[Any, ...]
"""A :class:`TokenRecord`'s values in field order, as worker processes send them."""


@dataclass(slots=True)
class Counters:
    """The one set of numbers every listener reads (summary, session row, logs, progress)."""

    total_databases: int = 0
    databases_done: int = 0
    databases_skipped: int = 0
    databases_failed: int = 0
    records: int = 0
    ipfs_success: int = 0
    ipfs_failed: int = 0
    validation_failed: int = 0
    sql_errors: int = 0
    errors: int = 0

    def copy(self) -> Counters:
        return Counters(**{k: getattr(self, k) for k in self.__slots__})

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}
