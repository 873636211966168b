"""What the main process hands a worker (a :class:`DatabaseTask`) and what comes back.

Messages are small picklable tuples; their first item names them:

``("take", task_id, pid)``               a worker process took the task
``("fetcher", task_id, name, reason)``   the fetcher chosen for the node's repo
``("start", task_id, estimate)``         the node database is open
``("batch", task_id, records, checkpoint, stats)``  one batch of TokenRecords, ready to write
``("done", task_id)``                    the database was read to its end
``("error", task_id, error_type, message)``  the database failed; the others go on
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import Node


@dataclass(slots=True)
class FetchOptions:
    mode: str = "auto"
    rpc_url: str | None = None
    ipfs_bin: str = "ipfs"
    timeout: float = 10.0
    concurrency: int = 8


@dataclass(slots=True)
class RetrySource:
    """Where a worker reads an unchanged database's failed fetches: the central database
    itself, page by page, so memory stays flat however many there are."""

    database_url: str | None = field(repr=False)
    machine_name: str
    expected: int
    """How many failed fetches ProcessedDatabases counts (for the progress estimate)."""


@dataclass(slots=True)
class DatabaseTask:
    task_id: int
    node: Node
    record_machine: str
    source_ip: str | None
    batch_size: int
    fetch: FetchOptions
    after: str | None = None
    """Checkpoint to resume after (``full`` mode)."""
    retry: RetrySource | None = None
    """When set, only the node's failed fetches are fetched again (the database is unchanged)."""


@dataclass(slots=True)
class BatchStats:
    ipfs_success: int = 0
    ipfs_failed: int = 0
    validation_failed: int = 0
    fetch_seconds: float = 0.0
    fetcher: str = ""
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(token_id, token_type, reason, detail) per failed fetch."""
    invalid: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    """(token_id, token_type, error codes) per token whose content failed a check."""
