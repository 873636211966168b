"""Coalesce bursts of one error type into one message with a count.

The first error of a type goes out at once and opens a window of ``window`` seconds. Errors of
that type inside the window are held back; when the window closes, the first held-back error is
sent with ``… and N more <type> errors in the last W s`` and a new window opens (so a steady
stream of one error type costs one message per window). A window that closes with nothing held
back is dropped, and the next error of that type goes out at once again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Burst(Generic[T]):
    """One message to send: an error, and how many more of its type it stands for."""

    key: str
    first: T
    more: int
    window: float


@dataclass(slots=True)
class _Window(Generic[T]):
    opened: float
    first: T | None = None
    held: int = 0


class ErrorCoalescer(Generic[T]):
    """Decide, per error type, what to send now and what to fold into a later summary."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._open: dict[str, _Window[T]] = {}

    def _close(self, key: str, win: _Window[T], now: float, reopen: bool) -> Burst[T] | None:
        if win.held and win.first is not None:
            if reopen:
                self._open[key] = _Window(opened=now)
            else:
                del self._open[key]
            return Burst(key, win.first, win.held - 1, self.window)
        del self._open[key]
        return None

    def offer(self, key: str, item: T) -> list[Burst[T]]:
        """What to send now because ``item`` arrived (possibly nothing: it was held back)."""
        if self.window <= 0:
            return [Burst(key, item, 0, self.window)]
        now = self._clock()
        out: list[Burst[T]] = []
        win = self._open.get(key)
        if win is not None and now - win.opened >= self.window:
            burst = self._close(key, win, now, reopen=True)
            if burst is not None:
                out.append(burst)
            win = self._open.get(key)
        if win is None:
            self._open[key] = _Window(opened=now)
            out.append(Burst(key, item, 0, self.window))
            return out
        if win.first is None:
            win.first = item
        win.held += 1
        return out

    def due(self, *, force: bool = False) -> list[Burst[T]]:
        """Summaries of windows that have closed (of every window with ``force``), by type."""
        now = self._clock()
        out: list[Burst[T]] = []
        for key, win in list(self._open.items()):
            if force or now - win.opened >= self.window:
                burst = self._close(key, win, now, reopen=not force)
                if burst is not None:
                    out.append(burst)
        return out

    @property
    def held(self) -> int:
        """Errors currently held back."""
        return sum(w.held for w in self._open.values())
