"""Node databases of both schema generations, built with the demo's gorm-like DDL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rubix_sync.demo import GENERATIONS, create_node_db, make_did
from rubix_sync.ipfs.cid import cid_v0_for_bytes
from rubix_sync.models import Node

OWN = make_did(b"own")
CHILD = make_did(b"child")
FOREIGN = make_did(b"foreign")
CREATOR = make_did(b"creator")


def cid(text: str) -> str:
    return cid_v0_for_bytes(text.encode())


PARENT = cid("parent")


def sample_rows() -> dict[str, list[dict[str, object]]]:
    """A few rows of every kind; the same rows serve both generations."""
    return {
        "tokens": [
            {
                "token_id": PARENT,
                "token_value": 1.0,
                "did": OWN,
                "token_status": 9,
                "created_at": "2025-10-01 10:00:00+00:00",
                "updated_at": "2025-11-01 10:00:00+00:00",
            },
            {
                "token_id": cid("part-a"),
                "parent_token_id": PARENT,
                "token_value": 0.25,
                "did": CHILD,
                "token_status": 0,
                "updated_at": None,
                "created_at": "2025-10-02 10:00:00+00:00",
            },
            {
                "token_id": cid("whole-with-parent"),
                "parent_token_id": PARENT,
                "token_value": 1.0,
                "did": OWN,
                "token_status": 0,
            },
            {
                "token_id": cid("half-no-parent"),
                "parent_token_id": "",
                "token_value": 0.5,
                "did": OWN,
                "token_status": 17,
            },
            {"token_id": cid("foreign"), "token_value": 1.0, "did": FOREIGN, "token_status": 2},
        ],
        "ft_tokens": [
            {
                "token_id": cid("ft0"),
                "ft_name": "GOLD",
                "owner_did": OWN,
                "creator_did": CREATOR,
                "token_status": 4,
                "token_value": 0.01,
                "updated_at": "2025-11-03 10:00:00+00:00",
            }
        ],
        "nft_tokens": [
            {"token_id": cid("nft0"), "did": OWN, "token_status": 7, "token_value": 2.5},
        ],
        "data_tokens": [
            {"token_id": cid("data0"), "did": OWN, "commiter_did": FOREIGN, "token_status": 5},
        ],
        "dids": [{"did": OWN, "type": 4}, {"did": CHILD, "type": 3}],
    }


MakeDb = Callable[..., Node]


@pytest.fixture
def make_db(tmp_path: Path) -> MakeDb:
    """``make_db(schema, name="node1", **rows)`` -> a Node whose rubix.db holds the rows."""

    def make(schema: str, name: str = "node1", **rows: object) -> Node:
        node_dir = tmp_path / name
        db = create_node_db(node_dir / "Rubix" / "rubix.db", schema, **rows)  # type: ignore[arg-type]
        return Node(name=name, db_path=db, ipfs_repo=node_dir / ".ipfs")

    return make


@pytest.fixture(params=GENERATIONS)
def generation(request: pytest.FixtureRequest) -> str:
    return str(request.param)
