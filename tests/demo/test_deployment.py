"""The demo deployment generator: realistic nodes, real CIDs, planted faults, deterministic."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from rubix_sync.demo import (
    FAULT_FT_NAME,
    FAULT_MISSING,
    FAULT_NFT_JSON,
    FAULT_RBT_GARBAGE,
    FAULT_TAMPERED,
    GEN_2025_03,
    GEN_LATE_2025,
    VALIDATION_FAULTS,
    DeploymentInfo,
    make_deployment,
    make_did,
    rbt_content,
)
from rubix_sync.discover import discover_nodes
from rubix_sync.errors import ConfigError, SourceError
from rubix_sync.ipfs.blockstore import BlockstoreFetcher
from rubix_sync.ipfs.cid import cid_v0_for_bytes, parse_cid
from rubix_sync.ipfs.unixfs import decode_single
from rubix_sync.models import FETCH_CID_MISMATCH, FETCH_NOT_FOUND, TokenRow
from rubix_sync.source import open_node_db

DID_RE = re.compile(r"^bafybmi[a-z2-7]{52}$")
RBT_RE = re.compile(r"^(\d{3})([0-9a-f]{64})$")
HEX_RE = re.compile(r"^(?:[0-9a-f]{2})+$")
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> DeploymentInfo:
    return make_deployment(
        tmp_path_factory.mktemp("demo"), nodes=3, tokens_per_node=400, faults=True, seed=11
    )


def read_node(db: Path) -> list[TokenRow]:
    node = next(n for n in discover_nodes([db.parent.parent]).nodes)
    with open_node_db(node) as src:
        return [r for rows, _ in src.iter_batches(500) for r in rows]


def all_rows(info: DeploymentInfo) -> dict[str, list[TokenRow]]:
    return {n: read_node(info.root / n / "Rubix" / "rubix.db") for n in info.token_counts}


def test_anchor_content_recipe_against_data_model():
    content = rbt_content(1, 0)
    assert content == b"0015feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"
    assert cid_v0_for_bytes(content) == "QmUeBM2pNTbyYZ4LrsCNHb3hUTpBwYgW7XHrmJucy9cKvy"
    did = make_did(b"x")
    assert DID_RE.match(did) and len(did) == 59


def test_layout_and_counts_match_the_databases(faulty: DeploymentInfo):
    info = faulty
    assert info.nodes == ["node001", "node002", "node003", "node004"]
    assert info.corrupt_nodes == ["node004"] and info.expected_corrupt_databases == 1
    assert info.total_databases == 4
    assert info.schemas == {
        "node001": GEN_2025_03,
        "node002": GEN_LATE_2025,
        "node003": GEN_2025_03,
    }
    found = discover_nodes([info.root])
    assert [n.name for n in found.nodes] == info.nodes
    for name in info.nodes:
        d = info.root / name
        assert (d / ".ipfs" / "datastore_spec").is_file() and (d / ".ipfs" / "config").is_file()
        assert json.loads((d / "api_config.json").read_text())["ipfs_api_port"] >= 5003

    rows = all_rows(info)
    assert (
        {n: len(r) for n, r in rows.items()}
        == info.token_counts
        == dict.fromkeys(["node001", "node002", "node003"], 400)
    )
    assert info.total_tokens == 1200
    types = Counter(r.token_type for rs in rows.values() for r in rs)
    assert types == Counter(info.type_counts)
    assert set(types) == {"RBT", "PART", "FT", "NFT", "DATA"}
    assert sum(r.owned for rs in rows.values() for r in rs) == info.owned_tokens
    assert 0 < info.total_tokens - info.owned_tokens < info.total_tokens // 10  # some foreign rows
    statuses = Counter(r.token_status for rs in rows.values() for r in rs if r.token_type == "RBT")
    assert {0, 2, 4, 9} <= set(statuses)
    late = rows["node002"]
    assert {17, 20} & {r.token_status for r in late}
    assert all(r.source_updated_at for r in late if r.token_type in ("RBT", "PART", "FT"))
    assert all(r.source_updated_at is None for r in rows["node001"])
    assert all(r.token_status is None for r in late if r.token_type == "DATA")

    with pytest.raises(SourceError, match="not an SQLite database"):
        open_node_db(next(n for n in found.nodes if n.name == "node004"))


def test_dids_and_ownership(faulty: DeploymentInfo):
    for name in faulty.token_counts:
        db = faulty.root / name / "Rubix" / "rubix.db"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            own = {r[0] for r in conn.execute("SELECT did FROM DIDTable")}
        finally:
            conn.close()
        assert len(own) == 2 and all(DID_RE.match(d) for d in own)
        for r in read_node(db):
            assert r.did is not None and DID_RE.match(r.did)
            assert r.owned == (r.did in own)
            if r.creator_did is not None:
                assert DID_RE.match(r.creator_did)


def test_block_files_are_real_cids(faulty: DeploymentInfo):
    tampered = {tid for _, tid in faulty.faults[FAULT_TAMPERED]}
    tampered_keys = set()
    for tid in tampered:
        mh = _b58decode(tid)
        tampered_keys.add(base64.b32encode(mh).decode().rstrip("="))
    checked = 0
    for name in faulty.token_counts:
        blocks = faulty.root / name / ".ipfs" / "blocks"
        for f in blocks.glob("*/*.data"):
            key = f.name[:-5]
            assert f.parent.name == key[-3:-1]  # next-to-last/2 shard
            block = f.read_bytes()
            mh = b"\x12\x20" + hashlib.sha256(block).digest()
            if key in tampered_keys:
                assert base64.b32encode(mh).decode().rstrip("=") != key
            else:
                assert base64.b32encode(mh).decode().rstrip("=") == key
                checked += 1
    assert checked == faulty.total_tokens - faulty.expected_ipfs_failed


def _b58decode(s: str) -> bytes:
    n = 0
    for c in s:
        n = n * 58 + B58.index(c)
    return n.to_bytes(34, "big")


def test_token_ids_are_cids_of_their_content(faulty: DeploymentInfo):
    faults = {tid: kind for kind, items in faulty.faults.items() for _, tid in items}
    seen = Counter()
    for name, rows in all_rows(faulty).items():
        fetcher = BlockstoreFetcher(faulty.root / name / ".ipfs")
        results = fetcher.fetch_many([r.token_id for r in rows])
        by_parent: dict[str, float] = defaultdict(float)
        ids = {r.token_id for r in rows}
        for r, res in zip(rows, results, strict=True):
            kind = faults.get(r.token_id)
            if kind == FAULT_MISSING:
                assert res.error == FETCH_NOT_FOUND
            elif kind == FAULT_TAMPERED:
                assert res.error == FETCH_CID_MISMATCH
            else:
                assert res.ok, res
                assert res.data is not None
                assert cid_v0_for_bytes(res.data) == r.token_id
                # independent of the fetcher: the block file holds exactly this content
                block = fetcher.path_for(parse_cid(r.token_id))
                assert decode_single(Path(block).read_bytes()) == res.data
                _check_content(r, res.data, kind)
            seen[kind] += 1
            if r.token_type == "PART" and r.parent_token_id in ids:
                by_parent[r.parent_token_id] += r.token_value or 0
        # parts of a parent held by the node sum to the parent's value
        assert by_parent and all(abs(v - 1.0) < 1e-9 for v in by_parent.values())
    assert seen[FAULT_MISSING] == len(faulty.faults[FAULT_MISSING]) == 12
    assert seen[FAULT_TAMPERED] == len(faulty.faults[FAULT_TAMPERED]) == 6
    assert faulty.expected_ipfs_failed == 18
    assert faulty.expected_validation_failed == 9
    for kind in (FAULT_RBT_GARBAGE, FAULT_FT_NAME, FAULT_NFT_JSON):
        assert seen[kind] == len(faulty.faults[kind]) == 3


def _check_content(r: TokenRow, data: bytes, fault: str | None) -> None:
    text = data.decode()
    if r.token_type == "RBT":
        m = RBT_RE.match(text)
        if fault == FAULT_RBT_GARBAGE:
            assert m is None
        else:
            assert m and 1 <= int(m.group(1)) <= 5 and r.token_value == 1.0
    elif r.token_type in ("PART", "DATA"):
        assert HEX_RE.match(text)
        if r.token_type == "PART":
            assert r.token_value is not None and 0.001 <= r.token_value <= 0.999
            assert r.parent_token_id and r.parent_token_id.startswith("Qm")
    elif r.token_type == "FT":
        name, index, creator = text.split(" ")
        assert creator == r.creator_did and index.isdigit()
        assert (name == r.ft_name) == (fault != FAULT_FT_NAME)
    elif r.token_type == "NFT":
        if fault == FAULT_NFT_JSON:
            with pytest.raises(ValueError):
                json.loads(text)
        else:
            obj = json.loads(text)
            assert obj["DID"] == r.did and obj["ArtifactHash"].startswith("Qm")
            assert len(obj["ArtifactHash"]) == 46 and "\n  " in text


def test_ft_indices_count_per_creator(faulty: DeploymentInfo):
    rows = all_rows(faulty)["node002"]
    fetcher = BlockstoreFetcher(faulty.root / "node002" / ".ipfs")
    fts = [r for r in rows if r.token_type == "FT"]
    results = fetcher.fetch_many([r.token_id for r in fts])
    per_batch: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r, res in zip(fts, results, strict=True):
        assert res.data is not None
        _name, i, creator = res.data.decode().split(" ")
        per_batch[(r.ft_name or "", creator)].append(int(i))
    assert len(per_batch) == 2
    for indices in per_batch.values():
        assert sorted(indices) == list(range(len(indices)))


def _snapshot(root: Path) -> dict[str, object]:
    snap: dict[str, object] = {}
    for db in sorted(root.glob("*/Rubix/rubix.db")):
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
            snap[str(db.relative_to(root))] = {
                t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables
            }
            conn.close()
        except sqlite3.DatabaseError:
            snap[str(db.relative_to(root))] = db.read_bytes()
    for f in sorted(root.glob("*/.ipfs/blocks/*/*.data")):
        snap[str(f.relative_to(root))] = f.read_bytes()
    return snap


def test_deterministic_for_a_seed(tmp_path: Path):
    a = make_deployment(tmp_path / "a", nodes=2, tokens_per_node=80, faults=True, seed=5)
    b = make_deployment(tmp_path / "b", nodes=2, tokens_per_node=80, faults=True, seed=5)
    c = make_deployment(tmp_path / "c", nodes=2, tokens_per_node=80, faults=True, seed=6)
    sa, sb, sc = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b"), _snapshot(tmp_path / "c")
    assert sa == sb
    assert a.faults == b.faults and a.token_counts == b.token_counts
    assert sa != sc and a.faults != c.faults


@pytest.mark.parametrize("schema", [GEN_2025_03, GEN_LATE_2025])
def test_single_generation_and_no_faults(tmp_path: Path, schema: str):
    info = make_deployment(tmp_path, nodes=2, tokens_per_node=50, schema=schema)
    assert info.schemas == {"node001": schema, "node002": schema}
    assert info.expected_ipfs_failed == info.expected_validation_failed == 0
    assert info.expected_corrupt_databases == 0 and info.nodes == ["node001", "node002"]
    assert all(not v for v in info.faults.values())
    conn = sqlite3.connect(f"file:{tmp_path / 'node001/Rubix/rubix.db'}?mode=ro", uri=True)
    try:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(TokensTable)")}
    finally:
        conn.close()
    assert ("updated_at" in cols) == (schema == GEN_LATE_2025)
    for name in info.nodes:
        rows = read_node(tmp_path / name / "Rubix" / "rubix.db")
        res = BlockstoreFetcher(tmp_path / name / ".ipfs").fetch_many([r.token_id for r in rows])
        assert all(r.ok for r in res)


def test_tiny_deployment(tmp_path: Path):
    info = make_deployment(tmp_path, nodes=1, tokens_per_node=1, faults=True)
    assert info.total_tokens == 1 and info.type_counts == {"RBT": 1}
    assert info.nodes == ["node001", "node002"] and info.corrupt_nodes == ["node002"]


def test_bad_arguments(tmp_path: Path):
    make_deployment(tmp_path, nodes=1, tokens_per_node=5)
    with pytest.raises(ConfigError, match=r"node001 already exists\. Choose an empty folder"):
        make_deployment(tmp_path, nodes=1, tokens_per_node=5)
    with pytest.raises(ConfigError, match="Unknown schema 'x'"):
        make_deployment(tmp_path / "n", schema="x")
    with pytest.raises(ConfigError, match="--nodes"):
        make_deployment(tmp_path / "n", nodes=0)
    with pytest.raises(ConfigError, match="--tokens-per-node"):
        make_deployment(tmp_path / "n", tokens_per_node=0)


def test_validation_counts_match_the_validator(faulty: DeploymentInfo):
    # The planted malformed contents are exactly what validation rejects; the rest passes.
    from rubix_sync.validate import validate_token

    failed_fetch = failed_checks = 0
    bad: list[tuple[str, list[str]]] = []
    for name, rows in all_rows(faulty).items():
        results = BlockstoreFetcher(faulty.root / name / ".ipfs").fetch_many(
            [r.token_id for r in rows]
        )
        for r, res in zip(rows, results, strict=True):
            verdict = validate_token(r, res)
            if not res.ok:
                failed_fetch += 1
            elif verdict.errors:
                failed_checks += 1
                bad.append((r.token_id, verdict.errors))
    assert failed_fetch == faulty.expected_ipfs_failed
    assert failed_checks == faulty.expected_validation_failed, bad
    planted = {tid for k in VALIDATION_FAULTS for _, tid in faulty.faults[k]}
    assert {tid for tid, _ in bad} == planted
