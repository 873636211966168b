"""Choose a fetcher per node: blockstore, then rpc, then cli; or the one configured.

:func:`select_fetcher` never raises. It returns a :class:`FetcherChoice` naming the fetcher and
why it was chosen (and why the ones before it were not); when nothing can read the repo, the
choice is an :class:`~rubix_sync.ipfs.base.UnavailableFetcher` that fails every CID with those
reasons, so the node's tokens are recorded as fetch failures and other nodes carry on.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from rubix_sync.errors import RubixSyncError, redact
from rubix_sync.ipfs.base import Fetcher, UnavailableFetcher
from rubix_sync.ipfs.blockstore import BlockstoreFetcher
from rubix_sync.ipfs.cli import CliFetcher
from rubix_sync.ipfs.rpc import RpcFetcher, api_url_from_repo

MODES = ("auto", "blockstore", "rpc", "cli")


@dataclass(frozen=True)
class FetcherChoice:
    fetcher: Fetcher
    name: str
    """``blockstore``, ``rpc``, ``cli`` or ``unavailable``."""
    reason: str
    """One line: why this one (and why not the ones tried before it)."""


def _try_blockstore(repo: Path) -> tuple[Fetcher | None, str]:
    try:
        f = BlockstoreFetcher(repo)
    except RubixSyncError as exc:
        return None, f"blockstore: {exc}"
    except OSError as exc:
        return None, f"blockstore: cannot read {repo}: {exc}"
    return f, f"blockstore: flatfs at {f.blocks} ({f.shard_spec})"


def _try_rpc(
    repo: Path, rpc_url: str | None, timeout: float, concurrency: int
) -> tuple[Fetcher | None, str]:
    try:
        url = rpc_url if rpc_url else api_url_from_repo(repo)
        f = RpcFetcher(url, timeout=timeout, concurrency=concurrency)
    except RubixSyncError as exc:
        return None, f"rpc: {exc}"
    try:
        version = f.probe()
    except RubixSyncError as exc:
        f.close()
        return None, f"rpc: {exc}"
    return f, f"rpc: kubo {version} at {redact(f.api_url)}"


def _try_cli(
    repo: Path, ipfs_bin: str, timeout: float, concurrency: int
) -> tuple[Fetcher | None, str]:
    path = shutil.which(ipfs_bin)
    if path is None:
        return None, f"cli: {ipfs_bin!r} not found on PATH"
    if not (repo / "config").is_file():
        return None, f"cli: {repo} has no kubo config"
    return (
        CliFetcher(repo, ipfs_bin=path, timeout=timeout, concurrency=concurrency),
        f"cli: {path} with IPFS_PATH={repo}",
    )


def select_fetcher(
    repo: Path,
    mode: str = "auto",
    *,
    rpc_url: str | None = None,
    ipfs_bin: str = "ipfs",
    timeout: float = 10.0,
    concurrency: int = 8,
) -> FetcherChoice:
    """Pick the fetcher for one node's repo (see module docstring). Never raises."""
    repo = Path(repo)
    if mode not in MODES:
        reason = f"unknown fetch mode {mode!r}; use one of {', '.join(MODES)}"
        return FetcherChoice(UnavailableFetcher(reason), "unavailable", reason)
    reasons: list[str] = []
    if mode in ("auto", "blockstore"):
        f, why = _try_blockstore(repo)
        if f is not None:
            return FetcherChoice(f, "blockstore", why if mode == "auto" else f"forced; {why}")
        reasons.append(why)
    if mode == "rpc" or (mode == "auto" and (rpc_url or (repo / "api").exists())):
        f, why = _try_rpc(repo, rpc_url, timeout, concurrency)
        if f is not None:
            return FetcherChoice(f, "rpc", _join(reasons, why, forced=mode != "auto"))
        reasons.append(why)
    elif mode == "auto":
        reasons.append(f"rpc: no {repo / 'api'} (daemon not running) and no RPC URL configured")
    if mode in ("auto", "cli"):
        f, why = _try_cli(repo, ipfs_bin, timeout, concurrency)
        if f is not None:
            return FetcherChoice(f, "cli", _join(reasons, why, forced=mode != "auto"))
        reasons.append(why)
    reason = "no fetcher can read this repo: " + "; ".join(reasons)
    return FetcherChoice(UnavailableFetcher(reason), "unavailable", reason)


def _join(before: list[str], why: str, *, forced: bool) -> str:
    if forced:
        return f"forced; {why}"
    if not before:
        return why
    return f"{why} (tried before: {'; '.join(before)})"
