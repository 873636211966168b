"""A cheap identity of a node database's current contents, for skipping unchanged databases."""

from __future__ import annotations

import os
from pathlib import Path

from rubix_sync.errors import SourceError

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100


def fingerprint(db_path: Path) -> str:
    """``"size=<bytes>;mtime_ns=<ns>;change=<counter>"`` for ``db_path``.

    ``change`` is SQLite's file change counter (header bytes 24..27, big-endian), which every
    committing write transaction in rollback-journal mode increments, so a write is noticed even
    when it leaves size and (coarse) mtime unchanged. It is ``-`` when the file has no SQLite
    header. When a ``-wal`` file exists, its size and mtime are appended (``;wal=<size>:<ns>``).
    Reads the first 100 bytes only; raises :class:`~rubix_sync.errors.SourceError` when
    the file cannot be read.
    """
    try:
        with open(db_path, "rb") as fh:
            st = os.fstat(fh.fileno())
            header = fh.read(HEADER_BYTES)
    except FileNotFoundError as exc:
        raise SourceError(
            f"Node database {db_path} does not exist. Check the node folder or re-run discovery."
        ) from exc
    except OSError as exc:
        raise SourceError(
            f"Node database {db_path} cannot be read ({exc.strerror or exc}). "
            "Check its permissions."
        ) from exc
    if len(header) >= 28 and header.startswith(SQLITE_MAGIC):
        change = str(int.from_bytes(header[24:28], "big"))
    else:
        change = "-"
    fp = f"size={st.st_size};mtime_ns={st.st_mtime_ns};change={change}"
    try:  # a WAL-mode database changes in its -wal file first (the node uses no WAL)
        wal = os.stat(f"{db_path}-wal")
    except OSError:
        return fp
    return f"{fp};wal={wal.st_size}:{wal.st_mtime_ns}"
