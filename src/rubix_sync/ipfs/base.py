"""The one interface every fetcher implements, and helpers they share.

A fetcher turns CIDs into file contents. ``fetch_many`` returns one
:class:`~rubix_sync.models.FetchResult` per CID, in order: the UnixFS-decoded content, or a
typed failure (``models.FETCH_*``) with a detail. It never raises for one bad CID and never
lets one failure fail the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

from rubix_sync.ipfs.cid import CODEC_DAG_PB, CODEC_RAW, HASH_SHA2_256, Cid, multihash_of
from rubix_sync.ipfs.unixfs import CHUNK_SIZE, encode_file, encode_leaf
from rubix_sync.models import FETCH_ERROR, FETCH_UNREADABLE_REPO, FetchResult


@runtime_checkable
class Fetcher(Protocol):
    """Fetch many CIDs from one node's IPFS repo."""

    name: str
    """``blockstore``, ``rpc``, ``cli`` or ``unavailable``."""

    def fetch_many(self, cids: Sequence[str]) -> list[FetchResult]:
        """One result per CID, in order; failures are typed results, never exceptions."""
        ...

    def close(self) -> None:
        """Release pooled connections or threads; safe to call twice."""
        ...


class PooledFetcher:
    """Base of the fetchers that take one CID at a time (rpc, cli): ``concurrency`` of them at
    once on a lazily started thread pool. Subclasses implement :meth:`_fetch_one`."""

    name = "pooled"

    def __init__(self, concurrency: int) -> None:
        self.concurrency = max(1, concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def fetch_many(self, cids: Sequence[str]) -> list[FetchResult]:
        if len(cids) <= 1 or self.concurrency == 1:
            return [self._fetch_guarded(c) for c in cids]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix=f"ipfs-{self.name}"
                )
            pool = self._pool
        return list(pool.map(self._fetch_guarded, cids))

    def _fetch_guarded(self, text: str) -> FetchResult:
        try:
            return self._fetch_one(text)
        except Exception as exc:  # a bug must cost one token, not the batch
            return FetchResult(
                str(text), error=FETCH_ERROR, detail=f"internal error: {type(exc).__name__}: {exc}"
            )

    def _fetch_one(self, text: str) -> FetchResult:
        raise NotImplementedError


class UnavailableFetcher:
    """What selection returns when no fetcher can read a repo: every CID fails with the reason."""

    name = "unavailable"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def fetch_many(self, cids: Sequence[str]) -> list[FetchResult]:
        return [FetchResult(c, error=FETCH_UNREADABLE_REPO, detail=self.reason) for c in cids]

    def close(self) -> None:
        return None


def content_matches(cid: Cid, data: bytes) -> bool | None:
    """Does file ``data`` re-encode to ``cid``? ``None`` when this cannot be decided.

    Raw CIDs hash the data itself. dag-pb files of one chunk are re-encoded as one UnixFS leaf
    (any version, any supported hash). Larger dag-pb files are re-encoded with kubo's defaults
    (256 KiB chunks, balanced, dag-pb leaves); for a CIDv0 those defaults are the only recipe,
    so a difference is a mismatch, while a CIDv1 may have been added with other options (raw
    leaves, another chunker), so a difference there is undecided (``None``).
    """
    if cid.codec == CODEC_RAW:
        return multihash_of(data, cid.hash_code) == cid.multihash
    if cid.codec != CODEC_DAG_PB:
        return None
    if len(data) <= CHUNK_SIZE:
        return multihash_of(encode_leaf(data), cid.hash_code) == cid.multihash
    if cid.hash_code != HASH_SHA2_256:
        return None
    root = b""
    for mh, _block in encode_file(data):
        root = mh
    if root == cid.multihash:
        return True
    return False if cid.version == 0 else None


__all__ = ["Fetcher", "UnavailableFetcher", "content_matches"]
