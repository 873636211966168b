"""Generate a realistic Rubix deployment: node folders, node databases, kubo repos with blocks."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from rubix_sync.demo.content import (
    LEVEL_SUPPLY,
    ft_content,
    make_did,
    nft_content,
    rbt_content,
    signed_block_hex,
)
from rubix_sync.demo.nodedb import GEN_LATE_2025, GENERATIONS, insert_rows, table_ddl
from rubix_sync.errors import ConfigError
from rubix_sync.ipfs.cid import cid_v0_for_bytes
from rubix_sync.ipfs.flatfs import FlatfsWriter
from rubix_sync.ipfs.unixfs import encode_leaf

SCHEMA_MIXED = "mixed"

# Fault kinds planted with faults=True.
FAULT_MISSING = "missing_block"  # row present, block absent from the repo -> fetch fails
FAULT_TAMPERED = "tampered_block"  # block bytes differ from the CID -> cid_mismatch
FAULT_RBT_GARBAGE = "rbt_garbage"  # RBT row, valid block, content is not an RBT token
FAULT_FT_NAME = "ft_name_mismatch"  # FT content names another FT than the row
FAULT_NFT_JSON = "nft_bad_json"  # NFT content is not JSON
FETCH_FAULTS = (FAULT_MISSING, FAULT_TAMPERED)
VALIDATION_FAULTS = (FAULT_RBT_GARBAGE, FAULT_FT_NAME, FAULT_NFT_JSON)

_FT_NAMES = ("RUBIXGOLD", "SAFEPASS", "ECOCREDIT", "TESTFT", "ORBIT")

# token_status weights for owned whole RBT tokens (see the data model's numbering).
_STATUS_2025_03 = [(0, 60), (1, 3), (2, 12), (4, 12), (5, 3), (8, 3), (15, 2)]
_STATUS_LATE = _STATUS_2025_03 + [(17, 3), (20, 4)]
_FOREIGN_STATUS = [(2, 5), (4, 3), (0, 2)]


@dataclass(slots=True)
class DeploymentInfo:
    """What :func:`make_deployment` created, and what a sync of it must report."""

    root: Path
    nodes: list[str] = field(default_factory=list)
    """Every node folder name, including the corrupt one, sorted."""
    schemas: dict[str, str] = field(default_factory=dict)
    """Schema generation of each readable node database."""
    token_counts: dict[str, int] = field(default_factory=dict)
    """Token rows per readable node database (all four token tables)."""
    type_counts: dict[str, int] = field(default_factory=dict)
    """Token rows per token type (RBT, PART, FT, NFT, DATA) across readable databases."""
    owned_tokens: int = 0
    """Rows whose DID is in the node's DIDTable."""
    total_tokens: int = 0
    """Token rows across the readable databases (what a sync writes)."""
    expected_ipfs_failed: int = 0
    """Tokens whose content cannot be fetched: block missing or tampered (cid_mismatch)."""
    expected_validation_failed: int = 0
    """Tokens whose content is fetched but fails validation (malformed contents)."""
    total_databases: int = 0
    """Node databases created, the corrupt one included (what discovery finds)."""
    expected_corrupt_databases: int = 0
    """Node databases that are not SQLite."""
    corrupt_nodes: list[str] = field(default_factory=list)
    faults: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Fault kind -> planted ``(node, token_id)``; kinds: FETCH_FAULTS + VALIDATION_FAULTS."""

    @property
    def expected_ok(self) -> int:
        """Tokens that fetch and validate cleanly."""
        return self.total_tokens - self.expected_ipfs_failed - self.expected_validation_failed


@dataclass(slots=True)
class _Token:
    table: str
    row: dict[str, object]
    content: bytes
    kind: str  # RBT, PART, FT, NFT, DATA
    owned: bool
    fault: str | None = None
    parent: bool = False


@dataclass(frozen=True, slots=True)
class _Dids:
    own: str
    child: str
    foreign: tuple[str, ...]

    @classmethod
    def for_node(cls, seed: int, name: str) -> _Dids:
        def did(what: str) -> str:
            return make_did(f"rubix-sync-demo/{seed}/{name}/{what}".encode())

        return cls(did("main"), did("child"), tuple(did(f"foreign/{k}") for k in range(3)))


def make_deployment(
    root: Path,
    *,
    nodes: int = 3,
    tokens_per_node: int = 200,
    faults: bool = False,
    seed: int = 0,
    schema: str = SCHEMA_MIXED,
) -> DeploymentInfo:
    """Create ``nodes`` node folders ``root/node001 …`` with ``tokens_per_node`` token rows each.

    Each node gets ``Rubix/rubix.db`` (``schema``: ``"2025-03"``, ``"late-2025"`` or ``"mixed"``,
    alternating), a kubo flatfs repo ``.ipfs`` holding every token's block, and
    ``api_config.json``. Token mix: whole RBT tokens (some split into parts, some recorded for
    foreign DIDs), part tokens, FT, NFT and a few data tokens, mixed ``token_status``. With
    ``faults``, every node also gets missing and tampered blocks and malformed contents, and one
    more node folder holds a ``rubix.db`` that is not SQLite. Deterministic for a given ``seed``.
    """
    if nodes < 1:
        raise ConfigError("--nodes must be at least 1.")
    if tokens_per_node < 1:
        raise ConfigError("--tokens-per-node must be at least 1.")
    if schema not in (*GENERATIONS, SCHEMA_MIXED):
        raise ConfigError(
            f"Unknown schema {schema!r}. Use one of: {', '.join((*GENERATIONS, SCHEMA_MIXED))}."
        )
    root = Path(root).absolute()
    total_folders = nodes + (1 if faults else 0)
    width = max(3, len(str(total_folders)))
    names = [f"node{i:0{width}d}" for i in range(1, total_folders + 1)]
    for name in names:
        if (root / name).exists():
            raise ConfigError(
                f"{root / name} already exists. Choose an empty folder for the demo deployment "
                "with --root."
            )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create demo folder {root} ({exc.strerror or exc}). Choose a writable --root."
        ) from exc

    info = DeploymentInfo(root=root, nodes=list(names), total_databases=len(names))
    info.faults = {k: [] for k in (*FETCH_FAULTS, *VALIDATION_FAULTS)}
    used_numbers: set[tuple[int, int]] = set()
    for i, name in enumerate(names[:nodes]):
        gen = schema if schema != SCHEMA_MIXED else GENERATIONS[i % 2]
        rng = random.Random(f"rubix-sync-demo/{seed}/{name}")
        dids = _Dids.for_node(seed, name)
        tokens = _node_tokens(rng, name, dids, gen, tokens_per_node, faults, used_numbers)
        _write_node(root / name, i, gen, tokens, rng, dids)
        info.schemas[name] = gen
        info.token_counts[name] = len(tokens)
        info.total_tokens += len(tokens)
        for t in tokens:
            info.type_counts[t.kind] = info.type_counts.get(t.kind, 0) + 1
            info.owned_tokens += t.owned
            if t.fault is not None:
                info.faults[t.fault].append((name, str(t.row["token_id"])))
    if faults:
        bad = names[-1]
        _write_corrupt_node(root / bad, nodes, random.Random(f"rubix-sync-demo/{seed}/{bad}"))
        info.corrupt_nodes.append(bad)
        info.expected_corrupt_databases = 1
    info.expected_ipfs_failed = sum(len(info.faults[k]) for k in FETCH_FAULTS)
    info.expected_validation_failed = sum(len(info.faults[k]) for k in VALIDATION_FAULTS)
    return info


# ------------------------------------------------------------------------------ tokens


def _weighted(rng: random.Random, table: list[tuple[int, int]]) -> int:
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


def _timestamp(rng: random.Random) -> tuple[str, str]:
    day, sec = rng.randrange(1, 29), rng.randrange(86_400)
    created = f"2025-10-{day:02d} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
    created += f".{rng.randrange(1_000_000):06d}+00:00"
    day2 = min(30, day + rng.randrange(0, 3))
    updated = f"2025-11-{day2:02d}" + created[10:]
    return created, updated


def _node_tokens(
    rng: random.Random,
    name: str,
    dids: _Dids,
    gen: str,
    n: int,
    faults: bool,
    used_numbers: set[tuple[int, int]],
) -> list[_Token]:
    own, child, foreign = dids.own, dids.child, dids.foreign
    late = gen == GEN_LATE_2025
    statuses = _STATUS_LATE if late else _STATUS_2025_03

    n_data = n // 50 if n >= 10 else 0
    n_nft = n * 8 // 100
    n_ft = n * 12 // 100
    n_parts = n * 15 // 100
    n_rbt = n - n_data - n_nft - n_ft - n_parts

    def stamp(row: dict[str, object]) -> dict[str, object]:
        if late:
            row["created_at"], row["updated_at"] = _timestamp(rng)
        return row

    def txid() -> str:
        return rng.randbytes(32).hex()

    tokens: list[_Token] = []

    # Part groups: sizes 2..4 summing to n_parts (a lone leftover joins the last group).
    groups: list[int] = []
    left = n_parts
    while left > 0:
        g = min(left, rng.randint(2, 4))
        if g == 1 and groups:
            groups[-1] += 1
        else:
            groups.append(g)
        left -= g
    n_parents = min(len(groups), n_rbt)

    # Whole RBT tokens.
    levels = sorted(LEVEL_SUPPLY)
    whole: list[_Token] = []
    for k in range(n_rbt):
        while True:
            level = rng.choice(levels)
            number = rng.randrange(LEVEL_SUPPLY[level])
            if (level, number) not in used_numbers:
                used_numbers.add((level, number))
                break
        parent = k < n_parents
        is_foreign = not parent and rng.random() < 0.05
        if parent:
            did, status = own, 9
        elif is_foreign:
            did, status = rng.choice(foreign), _weighted(rng, _FOREIGN_STATUS)
        else:
            did, status = (own if rng.random() < 0.9 else child), _weighted(rng, statuses)
        row: dict[str, object] = {
            "parent_token_id": "",
            "token_value": 1.0,
            "did": did,
            "token_status": status,
            "token_state_hash": rng.randbytes(32).hex(),
            "transaction_id": txid(),
            "added": 1,
            "sync_status": rng.choice((0, 1)),
        }
        whole.append(
            _Token(
                "TokensTable",
                stamp(row),
                rbt_content(level, number),
                "RBT",
                not is_foreign,
                parent=parent,
            )
        )
    tokens += whole

    # Part tokens: values of one parent sum to 1.000.
    for g_index, size in enumerate(groups):
        if g_index < n_parents:
            parent_tok: _Token | None = whole[g_index]
        else:
            parent_tok = None
        cuts = (
            sorted(rng.sample(range(1, 1000), size - 1)) if size > 1 else [rng.randrange(1, 1000)]
        )
        bounds = [0, *cuts, 1000] if size > 1 else [0, cuts[0]]
        for a, b in zip(bounds, bounds[1:], strict=False):
            payload = rng.randbytes(rng.randrange(120, 200))
            row = {
                "parent_token_id": None,  # filled in once the parent's CID is known
                "token_value": (b - a) / 1000,
                "did": own,
                "token_status": _weighted(rng, [(0, 8), (4, 2)]),
                "token_state_hash": rng.randbytes(32).hex(),
                "transaction_id": txid(),
                "added": 1,
                "sync_status": 0,
            }
            t = _Token("TokensTable", stamp(row), signed_block_hex(payload), "PART", True)
            if parent_tok is not None:
                t.row["parent_token_id"] = parent_tok
            else:  # a parent this node never held
                t.row["parent_token_id"] = cid_v0_for_bytes(rbt_content(1, rng.randrange(10**6)))
            tokens.append(t)

    # FT tokens: one batch created by this node, one bought from a foreign creator.
    ft_names = rng.sample(_FT_NAMES, 2)
    batches = [(ft_names[0], own, n_ft - n_ft // 3), (ft_names[1], foreign[0], n_ft // 3)]
    for ft_name, creator, count in batches:
        value = rng.choice((0.001, 0.01, 0.1, 1.0))
        for i in range(count):
            row = {
                "ft_name": ft_name,
                "owner_did": own,
                "creator_did": creator,
                "token_status": _weighted(rng, [(0, 8), (4, 2)]),
                "token_value": value,
                "token_state_hash": rng.randbytes(32).hex(),
                "transaction_id": txid(),
            }
            tokens.append(
                _Token("FTTokenTable", stamp(row), ft_content(ft_name, i, creator), "FT", True)
            )

    # NFT tokens created by this node.
    for j in range(n_nft):
        artifact = cid_v0_for_bytes(f"{name} artifact {j} {rng.random()}".encode())
        row = {
            "did": own,
            "token_status": _weighted(rng, [(0, 8), (4, 1), (7, 1)]),
            "token_value": round(rng.uniform(0.001, 5), 3),
        }
        if late:
            row["metadata"] = json.dumps({"name": f"Artwork #{j}", "edition": j % 10})
            row["filename"] = f"artwork_{j}.png"
        tokens.append(_Token("NFTTokensTable", row, nft_content(own, artifact), "NFT", True))

    # Data tokens.
    batch_id = rng.randbytes(16).hex()
    for _ in range(n_data):
        committer = own if rng.random() < 0.7 else foreign[1]
        row = {
            "did": own,
            "commiter_did": committer,
            "batch_id": batch_id,
            "token_status": 0,
        }
        payload = rng.randbytes(rng.randrange(80, 160))
        tokens.append(_Token("DataTokensTable", row, signed_block_hex(payload), "DATA", True))

    if faults:
        _plant_faults(rng, tokens, n)
    return tokens


def _plant_faults(rng: random.Random, tokens: list[_Token], n: int) -> None:
    plain = [t for t in tokens if t.kind in ("RBT", "PART") and not t.parent]
    rbt = [t for t in plain if t.kind == "RBT"]
    ft = [t for t in tokens if t.kind == "FT"]
    nft = [t for t in tokens if t.kind == "NFT"]
    want = [
        (FAULT_RBT_GARBAGE, rbt, max(1, n // 400)),
        (FAULT_MISSING, plain, max(1, n // 100)),
        (FAULT_TAMPERED, plain, max(1, n // 200)),
        (FAULT_FT_NAME, ft, 1),
        (FAULT_NFT_JSON, nft, 1),
    ]
    for kind, pool, count in want:
        free = [t for t in pool if t.fault is None]
        for t in rng.sample(free, min(count, len(free))):
            t.fault = kind
            if kind == FAULT_RBT_GARBAGE:
                t.content = b"this is not an RBT token " + rng.randbytes(8).hex().encode()
            elif kind == FAULT_FT_NAME:
                _name, index, creator = t.content.decode().split(" ")
                t.content = ft_content("WRONG" + _name, int(index), creator)
            elif kind == FAULT_NFT_JSON:
                t.content = b'{"DID": "' + str(t.row["did"]).encode() + b'", "ArtifactHash": '


# ------------------------------------------------------------------------------ writing


def _write_node(
    node_dir: Path,
    index: int,
    gen: str,
    tokens: list[_Token],
    rng: random.Random,
    node_dids: _Dids,
) -> None:
    writer = FlatfsWriter(node_dir / ".ipfs")
    writer.init_repo()
    # Blocks first: a token's ID is the CID of its content. Parents before their parts.
    for t in tokens:
        if t.fault == FAULT_MISSING:
            cid = cid_v0_for_bytes(t.content)
        elif t.fault == FAULT_TAMPERED:
            cid = cid_v0_for_bytes(t.content)
            tampered = t.content[:-1] + (b"0" if t.content[-1:] != b"0" else b"1")
            writer.put_block(cid, encode_leaf(tampered))
        else:
            cid = writer.put_file(t.content)
        t.row["token_id"] = cid
        parent = t.row.get("parent_token_id")
        if isinstance(parent, _Token):
            t.row["parent_token_id"] = parent.row["token_id"]

    own, child = node_dids.own, node_dids.child
    dids = [
        {"did": own, "type": 4, "did_dir": own, "root_did": 1, "config": ""},
        {"did": child, "type": 3, "did_dir": child, "root_did": 0, "config": ""},
    ]
    txs = [
        {
            "transaction_id": rng.randbytes(32).hex(),
            "transaction_type": "02",
            "block_id": f"1-{rng.randbytes(32).hex()}",
            "mode": 0,
            "sender_did": own,
            "receiver_did": node_dids.foreign[k % 3],
            "amount": float(k + 1),
            "total_time": round(rng.uniform(1, 9), 3),
            "comment": "",
            "date_time": "2025-10-01 12:00:00+00:00",
            "status": 1,
            "deployer_did": "",
            "epoch": 1_759_320_000 + k,
        }
        for k in range(3)
    ]
    by_table: dict[str, list[dict[str, object]]] = {}
    for t in tokens:
        by_table.setdefault(t.table, []).append(t.row)

    db_path = node_dir / "Rubix" / "rubix.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("BEGIN")
        for table in (
            "TokensTable",
            "FTTokenTable",
            "NFTTokensTable",
            "DataTokensTable",
            "DIDTable",
            "TransactionHistory",
        ):
            conn.execute(table_ddl(table, gen))
        for table, rows in by_table.items():
            insert_rows(conn, table, gen, rows)
        insert_rows(conn, "DIDTable", gen, dids)
        insert_rows(conn, "TransactionHistory", gen, txs)
        conn.execute("COMMIT")
    finally:
        conn.close()
    _write_api_config(node_dir, index)


def _write_api_config(node_dir: Path, index: int) -> None:
    n = index + 1
    cfg = {
        "node_port": 20000 + n,
        "ipfs_api_port": 5002 + n,
        "swarm_port": 4002 + n,
        "gateway_port": 8081 + n,
        "network": "mainnet",
    }
    (node_dir / "api_config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def _write_corrupt_node(node_dir: Path, index: int, rng: random.Random) -> None:
    FlatfsWriter(node_dir / ".ipfs").init_repo()
    db = node_dir / "Rubix" / "rubix.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    # Looks like a database to discovery, but has no SQLite header.
    db.write_bytes(b"this is not an SQLite database\n" + rng.randbytes(4096 - 31))
    _write_api_config(node_dir, index)
