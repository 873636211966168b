"""TokenRecord ⇄ row tuple, with as little per-row Python as possible (hot path)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any

from ..models import TokenRecord
from .dialects.base import Dialect, Row
from .schema import KEY_INDEXES, RECORD_COLUMNS

_get = attrgetter(*RECORD_COLUMNS)


def to_utc_naive(value: str | datetime) -> datetime:
    """ISO-8601 text or datetime → naive UTC (how every timestamp column stores it)."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def synced_at_converter(dialect: Dialect) -> Callable[[Any], Any]:
    """A cached ``synced_at`` → bind value function: a batch repeats a handful of values."""

    @functools.lru_cache(maxsize=512)
    def convert(value: str | datetime) -> Any:
        try:
            return dialect.datetime_param(to_utc_naive(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"TokenRecord.synced_at {value!r} is not an ISO-8601 timestamp"
            ) from exc

    return convert


def to_rows(
    records: Sequence[TokenRecord | tuple[Any, ...]], convert: Callable[[Any], Any], dedupe: bool
) -> list[Row]:
    """Tuples in RECORD_COLUMNS order; with ``dedupe`` the last record per key wins.

    ``records`` are TokenRecords, or tuples already in their field order (what worker processes
    send: a tuple pickles several times faster than a dataclass).
    """
    tuples = records if records and type(records[0]) is tuple else map(_get, records)
    rows = [t[:-1] + (convert(t[-1]),) for t in tuples]  # type: ignore[index,operator]
    if dedupe:
        a, b, c = KEY_INDEXES
        by_key = {(r[a], r[b], r[c]): r for r in rows}
        if len(by_key) != len(rows):
            rows = list(by_key.values())
    return rows


def to_record(row: Sequence[Any]) -> TokenRecord:
    """A row selected in RECORD_COLUMNS order back into a TokenRecord."""
    values = dict(zip(RECORD_COLUMNS, row, strict=True))
    synced = values["synced_at"]
    if isinstance(synced, datetime):
        values["synced_at"] = synced.replace(tzinfo=timezone.utc).isoformat()
    values["owned"] = bool(values["owned"])
    values["ipfs_fetched"] = bool(values["ipfs_fetched"])
    return TokenRecord(**values)
