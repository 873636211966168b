"""Discovery: roots -> nodes, unique stable names, loops, unreadable and system folders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rubix_sync.discover import _assign_names, _Found, discover_nodes
from rubix_sync.errors import ConfigError


def make_node(node_dir: Path, db: str = "rubix.db") -> Path:
    p = node_dir / "Rubix" / db
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    (node_dir / ".ipfs").mkdir(exist_ok=True)
    return p


def names(result) -> list[str]:
    return [n.name for n in result.nodes]


def test_finds_nodes_sorted_with_repos(tmp_path: Path):
    for n in ("node10", "node02", "node01"):
        make_node(tmp_path / n)
    (tmp_path / "not-a-node" / "sub").mkdir(parents=True)
    res = discover_nodes([tmp_path])
    assert names(res) == ["node01", "node02", "node10"]
    n1 = res.nodes[0]
    assert n1.db_path == tmp_path / "node01" / "Rubix" / "rubix.db"
    assert n1.ipfs_repo == tmp_path / "node01" / ".ipfs"
    assert res.skipped == []


def test_nested_layout_and_testnet(tmp_path: Path):
    make_node(tmp_path / "datadrive" / "node021")
    make_node(tmp_path / "mnt" / "drived" / "SafePass" / "node033", "rubixtest.db")
    both = tmp_path / "both"
    make_node(both)
    make_node(both, "rubixtest.db")
    res = discover_nodes([tmp_path])
    by_name = {n.name: n for n in res.nodes}
    assert set(by_name) == {"node021", "node033", "both", "both~test"}
    assert by_name["node033"].db_path.name == "rubixtest.db"
    assert by_name["both"].db_path.name == "rubix.db"
    assert by_name["both~test"].db_path.name == "rubixtest.db"
    assert by_name["both~test"].ipfs_repo == both / ".ipfs"


def test_root_may_be_node_or_rubix_folder(tmp_path: Path):
    make_node(tmp_path / "node7")
    for root in (tmp_path / "node7", tmp_path / "node7" / "Rubix"):
        res = discover_nodes([root])
        assert names(res) == ["node7"]
        assert res.nodes[0].ipfs_repo == tmp_path / "node7" / ".ipfs"


def test_rubix_container_folder_is_searched(tmp_path: Path):
    # /datadrive/Rubix/node001/Rubix/rubix.db: a folder called Rubix holding node folders.
    make_node(tmp_path / "Rubix" / "node001")
    make_node(tmp_path / "Rubix" / "MainNet" / "chains")  # never searched
    assert names(discover_nodes([tmp_path])) == ["node001"]


def test_name_collisions_are_qualified_stably(tmp_path: Path):
    make_node(tmp_path / "mnt" / "a" / "node1")
    make_node(tmp_path / "mnt" / "b" / "node1")
    make_node(tmp_path / "x" / "disk" / "node2")
    make_node(tmp_path / "y" / "disk" / "node2")
    make_node(tmp_path / "z" / "node3")
    roots = [tmp_path / "mnt", tmp_path / "x", tmp_path / "y", tmp_path / "z"]
    res = discover_nodes(roots)
    assert names(res) == ["a/node1", "b/node1", "node3", "x/disk/node2", "y/disk/node2"]
    # same names whatever the order of the roots, run after run
    again = discover_nodes(list(reversed(roots)))
    assert [(n.name, n.db_path) for n in again.nodes] == [(n.name, n.db_path) for n in res.nodes]


def test_overlapping_roots_and_symlinked_node_counted_once(tmp_path: Path):
    make_node(tmp_path / "data" / "node1")
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "alias").symlink_to(tmp_path / "data" / "node1")
    res = discover_nodes([tmp_path, tmp_path / "data", tmp_path / "links"])
    assert names(res) == ["node1"]


def test_symlink_loop_terminates(tmp_path: Path):
    make_node(tmp_path / "node1")
    (tmp_path / "node1" / "loop").symlink_to(tmp_path)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "up").symlink_to(tmp_path / "deep")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    res = discover_nodes([tmp_path])
    assert names(res) == ["node1"]
    assert any("loop" in s and "already searched" in s for s in res.skipped)
    assert any("up" in s and "already searched" in s for s in res.skipped)


def test_does_not_descend_into_ipfs_or_token_chains(tmp_path: Path):
    node = tmp_path / "node1"
    make_node(node)
    make_node(node / ".ipfs" / "blocks" / "fake")
    make_node(node / "Rubix" / "MainNet" / "fake")
    make_node(node / "Rubix" / "TestNet" / "fake")
    make_node(node / "Rubix" / "DID" / "fake")
    assert names(discover_nodes([tmp_path])) == ["node1"]


def test_repo_overrides(tmp_path: Path):
    make_node(tmp_path / "node1")
    make_node(tmp_path / "node2")
    other = tmp_path / "elsewhere" / "repo"
    res = discover_nodes([tmp_path], repo_overrides={"node2": other, "ghost": tmp_path})
    repos = {n.name: n.ipfs_repo for n in res.nodes}
    assert repos == {"node1": tmp_path / "node1" / ".ipfs", "node2": other}
    assert res.skipped == ["IPFS repo setting for node 'ghost': no such node found, ignored"]


def test_missing_root_is_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"Root .*/nope does not exist\. .*--root"):
        discover_nodes([tmp_path / "nope"])
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match=r"is not a folder"):
        discover_nodes([f])


def test_never_enters_proc_or_sys(tmp_path: Path):
    make_node(tmp_path / "node1")
    (tmp_path / "proc").symlink_to("/proc")
    (tmp_path / "sys").symlink_to("/sys")
    res = discover_nodes([tmp_path])
    assert names(res) == ["node1"]
    assert sum("system folder" in s for s in res.skipped) == 2
    res = discover_nodes([Path("/proc")])
    assert res.nodes == [] and "system folder /proc" in res.skipped[0]


def test_db_that_is_a_folder_is_skipped(tmp_path: Path):
    (tmp_path / "node1" / "Rubix" / "rubix.db").mkdir(parents=True)
    res = discover_nodes([tmp_path])
    assert res.nodes == []
    assert any("not a regular file" in s for s in res.skipped)


def _discover_as_nobody(root: Path) -> dict:
    """Run discovery in a forked child that dropped root privileges (uid/gid 65534)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = discover_nodes([root])
            payload = {"nodes": names(out), "skipped": out.skipped}
        except BaseException as exc:  # report, never run pytest's teardown in the child
            payload = {"error": repr(exc)}
            code = 1
        with os.fdopen(w, "w") as fh:
            fh.write(json.dumps(payload))
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_unreadable_folder_is_skipped_with_reason():
    # As root, permissions do not stop us: run the discovery as an unprivileged user instead.
    base = Path(tempfile.mkdtemp(prefix="rubix-discover-"))
    try:
        base.chmod(0o755)
        make_node(base / "node1")
        locked = base / "locked"
        make_node(locked / "node2")
        locked.chmod(0o000)
        if os.geteuid() != 0:
            out = discover_nodes([base])
            got = {"nodes": names(out), "skipped": out.skipped}
        else:
            got = _discover_as_nobody(base)
            if "error" in got and "Operation not permitted" in got["error"]:
                pytest.skip(f"cannot drop privileges here: {got['error']}")
        assert got.get("error") is None, got
        assert got["nodes"] == ["node1"]
        assert any(str(locked) in s and "Permission denied" in s for s in got["skipped"])
    finally:
        (base / "locked").chmod(0o755)
        shutil.rmtree(base)


# ---- naming as a property: unique, path-derived, independent of discovery order

_segment = st.sampled_from(["a", "b", "node1", "node2", "mnt", "x"])
_paths = st.lists(
    st.tuples(st.lists(_segment, min_size=1, max_size=4), st.booleans()),
    min_size=1,
    max_size=12,
    unique_by=lambda t: (tuple(t[0]), t[1]),
)


@settings(max_examples=200, deadline=None)
@given(_paths, st.randoms(use_true_random=False))
def test_names_unique_and_order_independent(items, rnd):
    found = [
        _Found(
            node_dir=Path("/", *segs),
            db_path=Path("/", *segs, "Rubix", "rubixtest.db" if test else "rubix.db"),
            testnet=test,
        )
        for segs, test in items
    ]
    named = _assign_names(found)
    assert len(named) == len(found)
    for name, f in named.items():
        assert name.removesuffix("~test").split("/")[-1] == f.node_dir.name
        assert name.endswith("~test") <= f.testnet
    shuffled = list(found)
    rnd.shuffle(shuffled)
    again = _assign_names(shuffled)
    assert {k: v.db_path for k, v in again.items()} == {k: v.db_path for k, v in named.items()}
