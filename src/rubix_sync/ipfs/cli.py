"""Fetch with the ``ipfs`` program: ``ipfs cat --offline <cid>`` with ``IPFS_PATH`` set.

The last resort: one child process per CID (slow, a few hundred per second), bounded
concurrency, a timeout per process (the process is killed when it expires). With the daemon
running, ``ipfs`` talks to it; without, it opens the repo itself and takes ``repo.lock`` the
normal way; this module never touches the lock. The content is verified against its CID.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from rubix_sync.errors import BlockFormatError
from rubix_sync.ipfs.base import PooledFetcher, content_matches
from rubix_sync.ipfs.cid import parse_cid
from rubix_sync.ipfs.rpc import classify_message
from rubix_sync.models import (
    FETCH_CID_MISMATCH,
    FETCH_ERROR,
    FETCH_INVALID_CID,
    FETCH_TIMEOUT,
    FETCH_UNREADABLE_REPO,
    FetchResult,
)


def classify_stderr(stderr: str) -> str:
    """Failure kind for what ``ipfs cat`` printed on stderr."""
    kind = classify_message(stderr)
    if kind is not None:
        return kind
    low = stderr.lower()
    if "lock" in low or "no ipfs repo found" in low or "permission denied" in low:
        return FETCH_UNREADABLE_REPO
    return FETCH_ERROR


class CliFetcher(PooledFetcher):
    """Fetch files by running ``<ipfs_bin> cat --offline <cid>``."""

    name = "cli"

    def __init__(
        self,
        repo: Path,
        *,
        ipfs_bin: str = "ipfs",
        timeout: float = 10.0,
        concurrency: int = 4,
    ) -> None:
        super().__init__(concurrency)
        self.repo = Path(repo)
        self.ipfs_bin = ipfs_bin
        self.timeout = timeout
        self._env = dict(os.environ, IPFS_PATH=str(self.repo))

    def __repr__(self) -> str:
        return f"CliFetcher({str(self.repo)!r}, ipfs_bin={self.ipfs_bin!r})"

    def _fetch_one(self, text: str) -> FetchResult:
        try:
            cid = parse_cid(text)
        except BlockFormatError as exc:
            return FetchResult(str(text), error=FETCH_INVALID_CID, detail=str(exc))
        try:
            proc = subprocess.run(
                [self.ipfs_bin, "cat", "--offline", text],
                env=self._env,
                capture_output=True,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return FetchResult(
                text, error=FETCH_TIMEOUT, detail=f"ipfs cat took longer than {self.timeout:g}s"
            )
        except OSError as exc:
            return FetchResult(
                text, error=FETCH_ERROR, detail=f"cannot run {self.ipfs_bin!r}: {exc.strerror}"
            )
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            first = err.splitlines()[0] if err else f"exit status {proc.returncode}"
            return FetchResult(text, error=classify_stderr(err), detail=first[:300])
        if content_matches(cid, proc.stdout) is False:
            return FetchResult(
                text,
                error=FETCH_CID_MISMATCH,
                detail="ipfs cat output does not re-encode to its CID",
            )
        return FetchResult(text, proc.stdout)
