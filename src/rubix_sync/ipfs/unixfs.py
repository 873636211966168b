"""dag-pb + UnixFS: encode a file the way kubo's ``ipfs add`` does, and decode it back.

Encoding (:func:`encode_file`) follows kubo's defaults: 256 KiB chunks, every leaf a dag-pb node
holding a UnixFS ``File`` with its data, balanced layout with at most 174 links per node, CIDv0
links. Decoding (:func:`decode_file`) accepts what kubo can produce for a file: a single dag-pb
File/Raw node, a tree of them (links read in order, recursively, through a block getter), raw
leaves (codec 0x55), and empty files.

The protobuf reader is a small hand-written one. Malformed input raises
:class:`~rubix_sync.errors.BlockFormatError`, never IndexError; depth, link count and total size
are bounded so a hostile block cannot make it hang or allocate without limit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rubix_sync.errors import BlockFormatError
from rubix_sync.ipfs.cid import CODEC_DAG_PB, CODEC_RAW, Cid, parse_cid_bytes

CHUNK_SIZE = 256 * 1024
MAX_LINKS = 174

# UnixFS Data.DataType
T_RAW = 0
T_DIRECTORY = 1
T_FILE = 2
T_METADATA = 3
T_SYMLINK = 4
T_HAMT = 5

MAX_DEPTH = 32
MAX_BLOCKS = 100_000  # blocks visited for one file (16 GiB of 256 KiB chunks is ~66k)
MAX_LINKS_PER_NODE = 100_000
MAX_BLOCK_SIZE = 4 * 1024 * 1024  # kubo refuses blocks over 4 MiB on the wire
DEFAULT_MAX_FILE_SIZE = 1 << 34  # 16 GiB


# --------------------------------------------------------------------------- encoding


def _uvarint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field_bytes(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _uvarint(len(payload)) + payload


def _mh(block: bytes) -> bytes:
    return b"\x12\x20" + hashlib.sha256(block).digest()


def encode_leaf(chunk: bytes) -> bytes:
    """The dag-pb block of one UnixFS File leaf (also a whole file of <= 256 KiB)."""
    unixfs = b"\x08\x02"
    if chunk:
        unixfs += _field_bytes(0x12, chunk)
    unixfs += b"\x18" + _uvarint(len(chunk))
    return _field_bytes(0x0A, unixfs)


def encode_node(links: list[tuple[bytes, int, int]]) -> bytes:
    """An internal UnixFS File node; ``links`` are ``(multihash, tsize, filesize)`` in order."""
    parts = []
    for mh, tsize, _fs in links:
        link = _field_bytes(0x0A, mh) + b"\x12\x00" + b"\x18" + _uvarint(tsize)
        parts.append(_field_bytes(0x12, link))
    total = sum(fs for _mh_, _ts, fs in links)
    unixfs = (
        b"\x08\x02\x18" + _uvarint(total) + b"".join(b"\x20" + _uvarint(fs) for *_x, fs in links)
    )
    parts.append(_field_bytes(0x0A, unixfs))
    return b"".join(parts)


def encode_file(data: bytes, *, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(multihash, block)`` for every block of ``data`` as kubo adds it; the root is last.

    Blocks come out children first, so a writer can store them as they are produced.
    """
    n = len(data)
    nchunks = max(1, -(-n // chunk_size))
    if nchunks == 1:
        block = encode_leaf(data)
        yield _mh(block), block
        return
    depth, cap = 1, MAX_LINKS
    while cap < nchunks:
        depth += 1
        cap *= MAX_LINKS
    view = memoryview(data)

    def build(first: int, d: int) -> Iterator[tuple[bytes, bytes]]:
        # Yields blocks; the last one yielded is the node for chunks [first, ...).
        if d == 0:
            chunk = bytes(view[first * chunk_size : (first + 1) * chunk_size])
            leaf = encode_leaf(chunk)
            info[first, d] = (len(leaf), len(chunk))
            yield _mh(leaf), leaf
            return
        span = MAX_LINKS ** (d - 1)
        links: list[tuple[bytes, int, int]] = []
        child = first
        while child < nchunks and len(links) < MAX_LINKS:
            child_mh = b""
            for mh, block in build(child, d - 1):
                child_mh = mh
                yield mh, block
            tsize, fsize = info.pop((child, d - 1))
            links.append((child_mh, tsize, fsize))
            child += span
        node = encode_node(links)
        info[first, d] = (len(node) + sum(t for _m, t, _f in links), sum(f for *_x, f in links))
        yield _mh(node), node

    info: dict[tuple[int, int], tuple[int, int]] = {}
    yield from build(0, depth)


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: Cid
    name: str | None
    tsize: int | None


@dataclass(frozen=True, slots=True)
class PBNode:
    links: list[PBLink]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: int
    data: bytes
    filesize: int | None
    blocksizes: list[int]


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise BlockFormatError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise BlockFormatError("protobuf varint longer than 10 bytes")


def _fields(buf: bytes, start: int, end: int, what: str) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field number, wire type, a, b)``: a varint's value in ``a``, or the
    ``[a, b)`` span of a length-delimited field; fixed-size fields are skipped with a = b = 0."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        fnum, wtype = key >> 3, key & 7
        if fnum == 0:
            raise BlockFormatError(f"{what}: protobuf field number 0")
        if wtype == 0:
            val, pos = _varint(buf, pos, end)
            yield fnum, 0, val, 0
        elif wtype == 2:
            length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise BlockFormatError(f"{what}: truncated length-delimited field {fnum}")
            yield fnum, 2, pos, pos + length
            pos += length
        elif wtype == 1:
            if end - pos < 8:
                raise BlockFormatError(f"{what}: truncated fixed64 field {fnum}")
            pos += 8
            yield fnum, 1, 0, 0
        elif wtype == 5:
            if end - pos < 4:
                raise BlockFormatError(f"{what}: truncated fixed32 field {fnum}")
            pos += 4
            yield fnum, 5, 0, 0
        else:
            raise BlockFormatError(f"{what}: unsupported protobuf wire type {wtype}")


def decode_pbnode(block: bytes) -> PBNode:
    """Decode a dag-pb block into its links and data."""
    if len(block) > MAX_BLOCK_SIZE:
        raise BlockFormatError(f"dag-pb block of {len(block)} bytes exceeds {MAX_BLOCK_SIZE}")
    links: list[PBLink] = []
    data: bytes | None = None
    for fnum, wtype, val, end_ in _fields(block, 0, len(block), "dag-pb node"):
        if fnum == 2 and wtype == 2:
            if len(links) >= MAX_LINKS_PER_NODE:
                raise BlockFormatError("dag-pb node has too many links")
            links.append(_decode_link(block, val, end_))
        elif fnum == 1 and wtype == 2:
            data = block[val:end_]
        else:
            raise BlockFormatError(f"dag-pb node: unexpected field {fnum} (wire type {wtype})")
    return PBNode(links, data)


def _decode_link(buf: bytes, start: int, end: int) -> PBLink:
    cid: Cid | None = None
    name: str | None = None
    tsize: int | None = None
    for fnum, wtype, val, end_ in _fields(buf, start, end, "dag-pb link"):
        if fnum == 1 and wtype == 2:
            cid = parse_cid_bytes(buf[val:end_])
        elif fnum == 2 and wtype == 2:
            try:
                name = buf[val:end_].decode("utf-8")
            except UnicodeDecodeError:
                raise BlockFormatError("dag-pb link name is not UTF-8") from None
        elif fnum == 3 and wtype == 0:
            tsize = val
        else:
            raise BlockFormatError(f"dag-pb link: unexpected field {fnum} (wire type {wtype})")
    if cid is None:
        raise BlockFormatError("dag-pb link without a Hash")
    return PBLink(cid, name, tsize)


def decode_unixfs(data: bytes) -> UnixFSData:
    """Decode the UnixFS ``Data`` message carried in a dag-pb node's data field."""
    utype: int | None = None
    payload = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    for fnum, wtype, val, end_ in _fields(data, 0, len(data), "UnixFS data"):
        if fnum == 1 and wtype == 0:
            utype = val
        elif fnum == 2 and wtype == 2:
            payload = data[val:end_]
        elif fnum == 3 and wtype == 0:
            filesize = val
        elif fnum == 4 and wtype == 0:
            if len(blocksizes) >= MAX_LINKS_PER_NODE:
                raise BlockFormatError("UnixFS node has too many blocksizes")
            blocksizes.append(val)
        elif fnum == 4 and wtype == 2:  # packed repeated
            p = val
            while p < end_:
                v, p = _varint(data, p, end_)
                blocksizes.append(v)
                if len(blocksizes) > MAX_LINKS_PER_NODE:
                    raise BlockFormatError("UnixFS node has too many blocksizes")
        elif (fnum in (5, 6) and wtype == 0) or (fnum in (7, 8) and wtype in (0, 2)):
            pass  # hashType, fanout (HAMT only); mode, mtime (UnixFS 1.5)
        else:
            raise BlockFormatError(f"UnixFS data: unexpected field {fnum} (wire type {wtype})")
    if utype is None:
        raise BlockFormatError("UnixFS data without a Type")
    return UnixFSData(utype, payload, filesize, blocksizes)


def decode_single(block: bytes) -> bytes | None:
    """Fast path: the file content of a dag-pb block with no links, or None if it has links.

    Raises :class:`BlockFormatError` when the block is not a UnixFS File/Raw node.
    """
    node = decode_pbnode(block)
    if node.links:
        return None
    return _file_node(node).data


def _file_node(node: PBNode) -> UnixFSData:
    if node.data is None:
        raise BlockFormatError("dag-pb node has no UnixFS data")
    ufs = decode_unixfs(node.data)
    if ufs.type not in (T_FILE, T_RAW):
        raise BlockFormatError(f"UnixFS node of type {ufs.type} is not a file")
    if not node.links and ufs.filesize is not None and ufs.filesize != len(ufs.data):
        raise BlockFormatError(
            f"UnixFS leaf says filesize {ufs.filesize} but carries {len(ufs.data)} bytes"
        )
    if node.links and ufs.blocksizes and len(ufs.blocksizes) != len(node.links):
        raise BlockFormatError(
            f"UnixFS node has {len(node.links)} links but {len(ufs.blocksizes)} blocksizes"
        )
    return ufs


BlockGetter = Callable[[Cid], bytes]
"""Returns the verified bytes of a block; raises a project error when it cannot."""


def decode_file(
    root: Cid,
    root_block: bytes,
    get_block: BlockGetter,
    *,
    max_size: int = DEFAULT_MAX_FILE_SIZE,
    max_blocks: int = MAX_BLOCKS,
) -> bytes:
    """The content of the UnixFS file whose root block is ``root_block``.

    Child blocks are fetched through ``get_block`` (links in order, depth-first). Raw leaves
    (codec raw) are file data as they are.
    """
    out: list[bytes] = []
    total = 0
    visited = 0

    def walk(cid: Cid, block: bytes, depth: int) -> int:
        """Append the file bytes under ``block`` to ``out``; return how many."""
        nonlocal total, visited
        visited += 1
        if visited > max_blocks:
            raise BlockFormatError(f"UnixFS file made of more than {max_blocks} blocks")
        if depth > MAX_DEPTH:
            raise BlockFormatError(f"UnixFS tree deeper than {MAX_DEPTH} levels")
        if cid.codec == CODEC_RAW:
            piece = block
        elif cid.codec == CODEC_DAG_PB:
            node = decode_pbnode(block)
            ufs = _file_node(node)
            piece = ufs.data
            if node.links:
                produced = 0
                if piece:
                    produced = _emit(piece)
                for link in node.links:
                    produced += walk(link.cid, get_block(link.cid), depth + 1)
                if ufs.filesize is not None and ufs.filesize != produced:
                    raise BlockFormatError(
                        f"UnixFS node says filesize {ufs.filesize} but its blocks hold {produced}"
                    )
                return produced
        else:
            raise BlockFormatError(f"unsupported codec 0x{cid.codec:x} in a UnixFS file")
        return _emit(piece)

    def _emit(piece: bytes) -> int:
        nonlocal total
        total += len(piece)
        if total > max_size:
            raise BlockFormatError(f"UnixFS file larger than the limit of {max_size} bytes")
        out.append(piece)
        return len(piece)

    walk(root, root_block, 0)
    return b"".join(out)
