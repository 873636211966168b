"""Read token content straight from a kubo repo's flatfs block store, verified block by block.

Read-only and lock-free: it opens block files for reading and nothing else, never creates,
takes or deletes ``repo.lock``, and is safe while the node's daemon runs (kubo writes blocks by
atomic rename, so a reader sees a whole block or none). Every block read is re-hashed and
compared with the CID it was fetched for, so a corrupted or planted block is reported as
``cid_mismatch`` rather than returned.

A repo whose ``/blocks`` mount is not flatfs (badger), or that is missing, raises
:class:`~rubix_sync.errors.RepoUnreadableError` at construction so selection tries the next
fetcher.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from rubix_sync.errors import BlockFormatError, RubixSyncError
from rubix_sync.ipfs.cid import CODEC_DAG_PB, HASHERS, Cid, b58_v0_int, parse_cid
from rubix_sync.ipfs.flatfs import key_for_sha256_int, read_blocks_mount, shard_func
from rubix_sync.ipfs.unixfs import DEFAULT_MAX_FILE_SIZE, MAX_BLOCK_SIZE, decode_file
from rubix_sync.models import (
    FETCH_CID_MISMATCH,
    FETCH_ERROR,
    FETCH_INVALID_CID,
    FETCH_MALFORMED,
    FETCH_NOT_FOUND,
    FETCH_UNREADABLE_REPO,
    FetchResult,
)

_READ_SIZE = 64 * 1024
_MASK256 = (1 << 256) - 1
_O_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


class _BlockMissing(Exception):
    def __init__(self, cid: Cid) -> None:
        self.cid = cid


class _BlockMismatch(Exception):
    def __init__(self, cid: Cid) -> None:
        self.cid = cid


def _read(path: str) -> bytes:
    """Read a whole block file (at most MAX_BLOCK_SIZE + 1 bytes)."""
    fd = os.open(path, _O_FLAGS)
    try:
        data = os.read(fd, _READ_SIZE)
        if len(data) < _READ_SIZE:
            return data
        parts = [data]
        total = len(data)
        while total <= MAX_BLOCK_SIZE:
            more = os.read(fd, _READ_SIZE)
            if not more:
                break
            parts.append(more)
            total += len(more)
        return b"".join(parts)
    finally:
        os.close(fd)


def _leaf_fast(block: bytes) -> bytes | None:
    """Content of the usual single-block file ``0a L 08 02 12 N <data> 18 N``, else None.

    Anything else (links, other field order, truncation) returns None and goes to the full
    decoder, which reports what is wrong.
    """
    try:
        return _leaf_fast_unchecked(block)
    except IndexError:
        return None


def _leaf_fast_unchecked(block: bytes) -> bytes | None:
    n = len(block)
    if n < 6 or block[0] != 0x0A:
        return None
    ln = block[1]
    p = 2
    if ln & 0x80:
        if block[2] & 0x80:
            return None
        ln = (ln & 0x7F) | (block[2] << 7)
        p = 3
    if p + ln != n or block[p] != 0x08 or block[p + 1] != 0x02:
        return None
    p += 2
    if block[p] != 0x12:
        # an empty file: 08 02 18 00
        if p + 2 == n and block[p] == 0x18 and block[p + 1] == 0:
            return b""
        return None
    dl = block[p + 1]
    p += 2
    if dl & 0x80:
        if block[p] & 0x80:
            return None
        dl = (dl & 0x7F) | (block[p] << 7)
        p += 1
    end = p + dl
    if end >= n or block[end] != 0x18:
        return None
    # the trailing filesize varint must equal the data length and end the block
    fs = 0
    shift = 0
    q = end + 1
    while True:
        b = block[q]  # IndexError when truncated: caught by _leaf_fast
        fs |= (b & 0x7F) << shift
        q += 1
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            return None
    if q != n or fs != dl:
        return None
    return block[p:end]


class BlockstoreFetcher:
    """Fetch files by reading ``<repo>/blocks`` (kubo flatfs) directly."""

    name = "blockstore"

    def __init__(self, repo: Path, *, max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> None:
        self.repo = Path(repo)
        blocks, spec = read_blocks_mount(self.repo)
        self.blocks = blocks
        self.shard_spec = spec
        self._shard = shard_func(spec)
        self._prefix = str(blocks) + os.sep
        self._max_file_size = max_file_size
        self._default_shard = spec.strip().rstrip("/") == "/repo/flatfs/shard/v1/next-to-last/2"

    def __repr__(self) -> str:
        return f"BlockstoreFetcher({str(self.repo)!r}, shard={self.shard_spec!r})"

    def close(self) -> None:
        return None

    def path_for(self, cid: Cid) -> str:
        key = base64.b32encode(cid.multihash).decode("ascii").rstrip("=")
        return f"{self._prefix}{self._shard(key)}{os.sep}{key}.data"

    def fetch_many(self, cids: Sequence[str]) -> list[FetchResult]:
        out: list[FetchResult] = []
        append = out.append
        b58 = b58_v0_int
        key_of = key_for_sha256_int
        sha256 = hashlib.sha256
        prefix = self._prefix
        sep = os.sep
        default_shard = self._default_shard
        for text in cids:
            try:
                # ---- fast path: CIDv0 text, default shard, single-block dag-pb leaf
                if (
                    default_shard
                    and text.__class__ is str
                    and (acc := b58(text)) is not None  # 46 base58 characters
                    and acc >> 256 == 0x1220  # a sha2-256 multihash: "Qm..."
                ):
                    key = key_of(acc)
                    try:
                        block = _read(f"{prefix}{key[52:54]}{sep}{key}.data")
                    except FileNotFoundError:
                        result = FetchResult(
                            text, error=FETCH_NOT_FOUND, detail="block not in the repo"
                        )
                    except OSError as exc:
                        result = self._os_error(text, exc)
                    else:
                        digest = sha256(block).digest()
                        if int.from_bytes(digest, "big") != acc & _MASK256:
                            result = _mismatch(text, text)
                        elif (data := _leaf_fast(block)) is not None:
                            result = FetchResult(text, data)
                        else:
                            cid = Cid(0, CODEC_DAG_PB, 0x12, digest, b"\x12\x20" + digest)
                            result = self._finish(text, cid, block)
                else:
                    result = self._fetch_slow(text)
            except Exception as exc:  # a bug must cost one token, not the batch
                result = _internal_error(text, exc)
            append(result)
        return out

    # ---------------------------------------------------------------- general path

    def _fetch_slow(self, text: str) -> FetchResult:
        try:
            cid = parse_cid(text)
        except BlockFormatError as exc:
            return FetchResult(str(text), error=FETCH_INVALID_CID, detail=str(exc))
        try:
            block = self._get_block(cid)
        except _BlockMissing:
            return FetchResult(text, error=FETCH_NOT_FOUND, detail="block not in the repo")
        except _BlockMismatch:
            return _mismatch(text, text)
        except OSError as exc:
            return self._os_error(text, exc)
        return self._finish(text, cid, block)

    def _get_block(self, cid: Cid) -> bytes:
        try:
            block = _read(self.path_for(cid))
        except FileNotFoundError:
            raise _BlockMissing(cid) from None
        if HASHERS[cid.hash_code](block).digest() != cid.digest:
            raise _BlockMismatch(cid)
        return block

    def _finish(self, text: str, cid: Cid, block: bytes) -> FetchResult:
        try:
            if cid.codec == CODEC_DAG_PB:
                data = _leaf_fast(block)
                if data is not None:
                    return FetchResult(text, data)
            data = decode_file(cid, block, self._get_block, max_size=self._max_file_size)
        except _BlockMissing as exc:
            return FetchResult(
                text, error=FETCH_NOT_FOUND, detail=f"child block {exc.cid} not in the repo"
            )
        except _BlockMismatch as exc:
            return _mismatch(text, str(exc.cid))
        except BlockFormatError as exc:
            return FetchResult(text, error=FETCH_MALFORMED, detail=str(exc))
        except OSError as exc:
            return self._os_error(text, exc)
        except RubixSyncError as exc:  # pragma: no cover - defensive
            return FetchResult(text, error=FETCH_ERROR, detail=str(exc))
        return FetchResult(text, data)

    def _os_error(self, text: str, exc: OSError) -> FetchResult:
        if isinstance(exc, PermissionError):
            return FetchResult(
                text,
                error=FETCH_UNREADABLE_REPO,
                detail=f"permission denied reading {self.blocks}; run as the node's user",
            )
        return FetchResult(text, error=FETCH_ERROR, detail=f"{type(exc).__name__}: {exc}")


def _internal_error(text: object, exc: Exception) -> FetchResult:
    return FetchResult(
        str(text), error=FETCH_ERROR, detail=f"internal error: {type(exc).__name__}: {exc}"
    )


def _mismatch(text: str, which: str) -> FetchResult:
    if which == text:
        detail = "the block's hash differs from its CID (corrupt or tampered block)"
    else:
        detail = f"child block {which} hash differs from its CID (corrupt or tampered block)"
    return FetchResult(text, error=FETCH_CID_MISMATCH, detail=detail)
