"""Read one node database: read-only, retrying while the node holds a lock, in keyset pages."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from rubix_sync.errors import SourceBusyError, SourceError
from rubix_sync.models import Node, TokenRow
from rubix_sync.source._schema import (
    DATA_TOKENS,
    DID_TABLE,
    FT_TOKENS,
    NFT_TOKENS,
    TABLE_ORDER,
    TablePlan,
    columns,
    plan_tables,
    quote,
    table_names,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED (primary result codes)
# SQLITE_READONLY_ROLLBACK: a hot journal that a read-only connection cannot roll back; the
# node (mid-write or restarting) will roll it back, so this is worth retrying.
_READONLY_ROLLBACK = 776
_PLAIN_TEXT = frozenset({str, type(None)})
_FIXED_TYPE = {FT_TOKENS: "FT", NFT_TOKENS: "NFT", DATA_TOKENS: "DATA"}


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and ((code & 0xFF) in _BUSY_CODES or code == _READONLY_ROLLBACK):
        return True
    msg = str(exc).lower()
    return "database is locked" in msg or "database is busy" in msg or "table is locked" in msg


class NodeSource:
    """An open, read-only node database. Use :func:`open_node_db` to get one."""

    def __init__(
        self,
        node: Node,
        conn: sqlite3.Connection,
        *,
        retries: int,
        backoff_s: float,
        busy_timeout_s: float,
    ) -> None:
        self.node = node
        self._conn = conn
        self._retries = retries
        self._backoff_s = backoff_s
        self._busy_timeout_s = busy_timeout_s
        self._plans: list[TablePlan] = self._call(lambda: plan_tables(conn))
        if not self._plans:
            raise SourceError(
                f"Node database {node.db_path} has none of the Rubix token tables "
                f"({', '.join(TABLE_ORDER)}). Check that it is a Rubix node database."
            )
        self._owned: frozenset[str] = self._call(self._read_owned)

    # -- public API -------------------------------------------------------------------------

    @property
    def tables(self) -> tuple[str, ...]:
        """The token tables present in this database, in reading order."""
        return tuple(p.logical for p in self._plans)

    @property
    def owned_dids(self) -> frozenset[str]:
        """The node's own DIDs (from DIDTable; empty when the table is absent)."""
        return self._owned

    def estimate(self) -> int:
        """Number of rows across the token tables (for progress; cheap)."""

        def count() -> int:
            total = 0
            for p in self._plans:
                row = self._conn.execute(f"SELECT count(*) FROM {quote(p.actual)}").fetchone()
                total += int(row[0])
            return total

        return self._call(count)

    def iter_batches(
        self, batch_size: int = 1000, after: str | None = None
    ) -> Iterator[tuple[list[TokenRow], str]]:
        """Yield ``(rows, checkpoint)`` in keyset pages of at most ``batch_size`` rows.

        Tables are read in ``TABLE_ORDER``, each ordered by ``token_id``. Passing a yielded
        checkpoint back as ``after`` resumes right after that batch. No read transaction is
        held between batches, so the node can write in between.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        start_table, last_key = _parse_checkpoint(after, self.node.db_path)
        start_index = TABLE_ORDER.index(start_table) if start_table else 0
        for plan in self._plans:
            index = TABLE_ORDER.index(plan.logical)
            if index < start_index:
                continue
            key = last_key if index == start_index else None
            convert = self._converter(plan.logical)
            while True:
                page = self._call(functools.partial(self._page, plan, key, batch_size))
                if not page:
                    break
                rows = [convert(r) for r in page]
                key = str(page[-1][0])
                yield rows, json.dumps({"t": plan.logical, "k": key}, separators=(",", ":"))
                if len(page) < batch_size:
                    break

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> NodeSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _page(self, plan: TablePlan, key: str | None, n: int) -> list[tuple[object, ...]]:
        if key is None:
            cur = self._conn.execute(plan.first_page_sql(), (n,))
        else:
            cur = self._conn.execute(plan.next_page_sql(), (key, n))
        try:
            return cur.fetchall()  # bounded by LIMIT n
        finally:
            cur.close()

    def _read_owned(self) -> frozenset[str]:
        actual = table_names(self._conn).get(DID_TABLE.lower())
        if actual is None or "did" not in columns(self._conn, actual):
            return frozenset()
        cur = self._conn.execute(f"SELECT did FROM {quote(actual)} WHERE did IS NOT NULL")
        try:
            return frozenset(str(r[0]) for r in cur)
        finally:
            cur.close()

    def _converter(self, logical: str) -> Callable[[tuple[object, ...]], TokenRow]:
        owned = self._owned
        fixed = _FIXED_TYPE.get(logical)

        def convert(r: tuple[object, ...]) -> TokenRow:
            # Text columns arrive through NULLIF(col, ''), so the usual case is str or None
            # already; anything else (blobs, numbers) goes through the slow normalisers.
            token_id, did, status, value, parent, ft_name, creator, updated = r
            if not (
                did.__class__ in _PLAIN_TEXT
                and parent.__class__ in _PLAIN_TEXT
                and ft_name.__class__ in _PLAIN_TEXT
                and creator.__class__ in _PLAIN_TEXT
                and updated.__class__ in _PLAIN_TEXT
            ):
                did, parent, ft_name, creator, updated = map(
                    _text, (did, parent, ft_name, creator, updated)
                )
            if value is not None and value.__class__ is not float:
                value = _float(value)
            if status is not None and status.__class__ is not int:
                status = _int(status)
            if fixed is not None:
                kind = fixed
            elif parent and value is not None and 0 < value < 1:
                kind = "PART"
            else:
                kind = "RBT"
            return TokenRow(
                token_type=kind,
                token_id=token_id,  # type: ignore[arg-type]
                did=did,  # type: ignore[arg-type]
                owned=did in owned,
                token_status=status,
                token_value=value,
                parent_token_id=parent,  # type: ignore[arg-type]
                ft_name=ft_name,  # type: ignore[arg-type]
                creator_did=creator,  # type: ignore[arg-type]
                source_updated_at=updated,  # type: ignore[arg-type]
            )

        return convert

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, retrying with backoff while the database is busy; map driver errors."""
        attempt = 0
        while True:
            try:
                return fn()
            except sqlite3.Error as exc:
                if _is_busy(exc):
                    if attempt < self._retries:
                        delay = min(self._backoff_s * (2**attempt), 2.0)
                        attempt += 1
                        log.debug(
                            "node database %s busy, retry %d/%d in %.2fs",
                            self.node.db_path,
                            attempt,
                            self._retries,
                            delay,
                        )
                        time.sleep(delay)
                        continue
                    if getattr(exc, "sqlite_errorcode", None) == _READONLY_ROLLBACK:
                        raise SourceBusyError(
                            f"Node database {self.node.db_path} has an unfinished write (a hot "
                            f"journal {self.node.db_path.name}-journal) that only a writer can "
                            "roll back. Start the node (it rolls it back), then re-run."
                        ) from exc
                    raise SourceBusyError(
                        f"Node database {self.node.db_path} stayed locked after "
                        f"{attempt + 1} attempts (busy timeout {self._busy_timeout_s:g}s each). "
                        "The node is writing to it; the next run will retry."
                    ) from exc
                raise _source_error(self.node.db_path, exc) from exc


def open_node_db(
    node: Node,
    *,
    busy_timeout_s: float = 5.0,
    retries: int = 3,
    backoff_s: float = 0.2,
) -> NodeSource:
    """Open ``node.db_path`` read-only and inspect its schema.

    The file is opened through a ``file:…?mode=ro`` URI with ``PRAGMA query_only``, so nothing is
    ever written to it, and no journal is created. While the node holds a lock, each statement
    waits up to ``busy_timeout_s`` and is retried ``retries`` times with exponential backoff
    starting at ``backoff_s``; then :class:`~rubix_sync.errors.SourceBusyError`. A missing file,
    a file that is not SQLite, or a corrupt one raises :class:`~rubix_sync.errors.SourceError`.
    Use as a context manager (or call ``close()``).
    """
    path = Path(node.db_path)
    if not path.exists():
        raise SourceError(
            f"Node database {path} does not exist. Check the node folder or re-run discovery."
        )
    if not path.is_file():
        raise SourceError(f"Node database {path} is not a file. Check the node folder.")
    uri = path.absolute().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise _source_error(path, exc) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA query_only = 1")
        return NodeSource(
            node, conn, retries=retries, backoff_s=backoff_s, busy_timeout_s=busy_timeout_s
        )
    except sqlite3.Error as exc:
        conn.close()
        if _is_busy(exc):
            raise SourceBusyError(
                f"Node database {path} is locked. The node is writing to it; the next run "
                "will retry."
            ) from exc
        raise _source_error(path, exc) from exc
    except BaseException:
        conn.close()
        raise


def _source_error(path: Path, exc: sqlite3.Error) -> SourceError:
    msg = str(exc)
    low = msg.lower()
    if "not a database" in low or "file is encrypted" in low:
        reason = "is not an SQLite database"
        fix = "Check that it is a Rubix node database, not another file."
    elif "malformed" in low or "corrupt" in low:
        reason = f"is corrupt ({msg})"
        fix = "Restore it from a backup or let the node rebuild it."
    elif "unable to open" in low:
        reason = f"cannot be opened ({msg})"
        fix = "Check that it exists and that its folder is readable."
    else:
        reason = f"cannot be read ({msg})"
        fix = "Check the file and its permissions."
    return SourceError(f"Node database {path} {reason}. {fix}")


def _parse_checkpoint(after: str | None, path: Path) -> tuple[str | None, str | None]:
    if after is None:
        return None, None
    try:
        data = json.loads(after)
        table, key = data["t"], data["k"]
        if table not in TABLE_ORDER or not isinstance(key, str):
            raise ValueError(table)
    except (ValueError, TypeError, KeyError) as exc:
        raise SourceError(
            f"Checkpoint {after!r} for node database {path} is not valid. "
            "Clear the checkpoint to read the database from the start."
        ) from exc
    return table, key


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        try:
            s = v.decode("utf-8")
        except UnicodeDecodeError:
            return v.hex()
    else:
        s = str(v)
    return s if s != "" else None


def _float(v: object) -> float | None:
    if v is None or isinstance(v, bytes):
        return None
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _int(v: object) -> int | None:
    if v is None or isinstance(v, bytes):
        return None
    if isinstance(v, int):
        return v
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() else None
