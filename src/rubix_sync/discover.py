"""Roots → nodes: find every Rubix node database below the configured folders.

A node is a folder holding ``Rubix/rubix.db`` (mainnet) or ``Rubix/rubixtest.db`` (testnet). Its
name is the folder's name; when two nodes share a name, each is qualified with as many parent
folders as it takes to tell them apart (``a/node1`` and ``b/node1``), and a testnet database that
shares its folder with a mainnet one is named ``<name>~test``. Names depend only on paths, so the
same machine gets the same names on every run (unless a new node with the same folder name
appears, which qualifies both).

The walk uses :func:`os.scandir`, follows symlinked folders once (loops are cut by remembering
each folder's ``(st_dev, st_ino)``), skips folders it may not read (recording why), never enters
``/proc``, ``/sys`` or ``/dev``, and does not descend into ``.ipfs`` repos nor below a node's own
``Rubix`` folder (token chains, DID folders). A ``Rubix`` folder without a database is searched
like any other (``/datadrive/Rubix/node001/Rubix/rubix.db``).
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rubix_sync.errors import ConfigError
from rubix_sync.models import Node

RUBIX_DIR = "Rubix"
DB_NAMES = ("rubix.db", "rubixtest.db")
TESTNET_SUFFIX = "~test"

_NEVER_ENTER = frozenset({"/proc", "/sys", "/dev"})
_SKIP_NAMES = frozenset({".ipfs"})
_SKIP_IN_RUBIX = frozenset({"MainNet", "TestNet"})


@dataclass(slots=True)
class DiscoveryResult:
    """What :func:`discover_nodes` found."""

    nodes: list[Node] = field(default_factory=list)
    """Every node database found, sorted by node name; names are unique."""
    skipped: list[str] = field(default_factory=list)
    """One human-readable reason per folder that could not be searched (unreadable, loop...)."""


@dataclass(frozen=True, slots=True)
class _Found:
    node_dir: Path
    db_path: Path
    testnet: bool


def discover_nodes(
    roots: Sequence[Path], *, repo_overrides: Mapping[str, Path] | None = None
) -> DiscoveryResult:
    """Search ``roots`` for Rubix node databases.

    ``repo_overrides`` maps a node name to its kubo repo when it is not ``<node>/.ipfs``.
    Raises :class:`~rubix_sync.errors.ConfigError` when a root does not exist or is not a folder.
    """
    abs_roots: list[Path] = []
    for root in roots:
        p = Path(os.path.abspath(os.path.expanduser(str(root))))
        if not p.exists():
            raise ConfigError(
                f"Root {p} does not exist. Pass an existing folder that holds node folders "
                "with --root."
            )
        if not p.is_dir():
            raise ConfigError(
                f"Root {p} is not a folder. Pass a folder that holds node folders with --root."
            )
        abs_roots.append(p)

    result = DiscoveryResult()
    found: list[_Found] = []
    seen_dbs: set[tuple[int, int]] = set()
    visited: set[tuple[int, int]] = set()
    for root in abs_roots:
        _walk(root, visited, seen_dbs, found, result.skipped)

    overrides = dict(repo_overrides or {})
    for name, item in _assign_names(found).items():
        repo = Path(overrides.pop(name)) if name in overrides else item.node_dir / ".ipfs"
        result.nodes.append(Node(name=name, db_path=item.db_path, ipfs_repo=repo))
    for name in sorted(overrides):
        result.skipped.append(f"IPFS repo setting for node {name!r}: no such node found, ignored")
    result.nodes.sort(key=lambda n: n.name)
    return result


def _walk(
    root: Path,
    visited: set[tuple[int, int]],
    seen_dbs: set[tuple[int, int]],
    found: list[_Found],
    skipped: list[str],
) -> None:
    stack: list[str] = [str(root)]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in _NEVER_ENTER or any(real.startswith(p + "/") for p in _NEVER_ENTER):
            skipped.append(f"{folder}: not searched (system folder {real})")
            continue
        try:
            st = os.stat(folder)
        except OSError as exc:
            skipped.append(f"{folder}: cannot read ({exc.strerror or exc})")
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            if os.path.islink(folder):
                skipped.append(f"{folder}: symlink to an already searched folder ({real}), skipped")
            continue
        visited.add(key)
        in_rubix = os.path.basename(folder) == RUBIX_DIR
        has_db = False
        subdirs: list[str] = []
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    name = entry.name
                    if in_rubix and name in DB_NAMES:
                        _note_db(folder, entry, seen_dbs, found, skipped)
                        has_db = True
                        continue
                    if name in _SKIP_NAMES or (in_rubix and name in _SKIP_IN_RUBIX):
                        continue
                    try:
                        is_dir = entry.is_dir()  # follows symlinks
                    except OSError:
                        is_dir = False
                    if is_dir:
                        subdirs.append(entry.path)
        except OSError as exc:
            skipped.append(f"{folder}: cannot read ({exc.strerror or exc})")
            continue
        if has_db:
            continue  # a node's own Rubix folder: token chains and DID folders, no more nodes
        # Depth-first in name order; reverse so that pop() takes the smallest name first.
        subdirs.sort(reverse=True)
        stack.extend(subdirs)


def _note_db(
    rubix_dir: str,
    entry: os.DirEntry[str],
    seen_dbs: set[tuple[int, int]],
    found: list[_Found],
    skipped: list[str],
) -> None:
    try:
        st = entry.stat()  # follows symlinks
    except OSError as exc:
        skipped.append(f"{entry.path}: cannot read ({exc.strerror or exc})")
        return
    if not stat.S_ISREG(st.st_mode):
        skipped.append(f"{entry.path}: not a regular file, skipped")
        return
    key = (st.st_dev, st.st_ino)
    if key in seen_dbs:
        return  # the same database reached through another root or a symlink
    seen_dbs.add(key)
    node_dir = Path(rubix_dir).parent
    found.append(
        _Found(node_dir=node_dir, db_path=Path(entry.path), testnet=entry.name == DB_NAMES[1])
    )


def _base_name(node_dir: Path) -> str:
    return node_dir.name or str(node_dir)


def _assign_names(found: list[_Found]) -> dict[str, _Found]:
    """Give every database a unique, path-derived node name."""
    # Testnet databases that share their folder with a mainnet one get a suffix.
    mainnet_dirs = {f.node_dir for f in found if not f.testnet}
    suffix = {
        id(f): (TESTNET_SUFFIX if f.testnet and f.node_dir in mainnet_dirs else "") for f in found
    }
    groups: dict[str, list[_Found]] = defaultdict(list)
    for f in found:
        groups[_base_name(f.node_dir) + suffix[id(f)]].append(f)

    named: dict[str, _Found] = {}
    for base, members in groups.items():
        if len(members) == 1:
            named[base] = members[0]
            continue
        # Qualify with parent folders: the smallest depth at which all members differ.
        parts = [f.node_dir.parts for f in members]
        depth = 2
        max_depth = max(len(p) for p in parts)
        while depth < max_depth:
            names = {_qualified(p, depth) for p in parts}
            if len(names) == len(members):
                break
            depth += 1
        for f, p in zip(members, parts, strict=True):
            named[_qualified(p, depth) + suffix[id(f)]] = f
    return named


def _qualified(parts: tuple[str, ...], depth: int) -> str:
    tail = [p for p in parts[-depth:] if p != os.sep]
    return "/".join(tail) if tail else os.sep
