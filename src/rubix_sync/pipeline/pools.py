"""Where database tasks run: worker processes (the default) or in-process (``workers=0``).

Both offer the same three calls to the main loop: ``submit(task)``, ``get(timeout)`` for the next
message (or ``None``) and ``close()``. Only the main process writes logs: workers put their log
records on a queue that :class:`ProcessPool` drains into the main process's handlers.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections import deque
from collections.abc import Generator
from typing import Any

from .tasks import DatabaseTask
from .worker import Message, process_task, worker_main


class InlinePool:
    """Runs each task's generator in the calling thread, one message per ``get``."""

    def __init__(self) -> None:
        self._tasks: deque[DatabaseTask] = deque()
        self._current: Generator[Message, None, None] | None = None

    def submit(self, task: DatabaseTask) -> None:
        self._tasks.append(task)

    def get(self, timeout: float) -> Message | None:
        while True:
            if self._current is None:
                if not self._tasks:
                    return None
                self._current = process_task(self._tasks.popleft())
            try:
                return next(self._current)
            except StopIteration:
                self._current = None

    def reap(self) -> list[int]:
        return []

    def close(self, *, terminate: bool = False) -> None:
        self._tasks.clear()
        if self._current is not None:
            self._current.close()
            self._current = None


class ProcessPool:
    """``size`` spawned worker processes fed from one task queue; bounded result queue."""

    def __init__(self, size: int) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._tasks: Any = self._ctx.Queue()
        self._results: Any = self._ctx.Queue(maxsize=max(4, size * 3))
        self._logs: Any = self._ctx.Queue()
        self._procs = [self._start(i) for i in range(size)]
        self._log_thread = threading.Thread(target=self._drain_logs, daemon=True)
        self._log_thread.start()

    def submit(self, task: DatabaseTask) -> None:
        self._tasks.put(task)

    def get(self, timeout: float) -> Message | None:
        try:
            message: Message = self._results.get(timeout=timeout)
            return message
        except queue.Empty:
            return None

    def _start(self, i: int) -> Any:
        proc = self._ctx.Process(
            target=worker_main,
            args=(self._tasks, self._results, self._logs),
            name=f"rubix-sync-worker-{i}",
            daemon=True,
        )
        proc.start()
        return proc

    def reap(self) -> list[int]:
        """PIDs of workers that died without being asked to stop; each is replaced, so the
        tasks still queued are taken by the new one (the dead one's own task is lost)."""
        dead = []
        for i, proc in enumerate(self._procs):
            if proc.exitcode is not None:
                dead.append(proc.pid)
                proc.close()
                self._procs[i] = self._start(i)
        return dead

    def _drain_logs(self) -> None:
        while True:
            try:
                record = self._logs.get()
            except (EOFError, OSError):
                return
            if record is None:
                return
            logging.getLogger(record.name).handle(record)

    def close(self, *, terminate: bool = False) -> None:
        if terminate:
            for proc in self._procs:
                if proc.is_alive():
                    proc.terminate()
        else:
            for _ in self._procs:
                self._tasks.put(None)
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self._logs.put(None)
        self._log_thread.join(timeout=5)
        for q in (self._tasks, self._results, self._logs):
            q.cancel_join_thread()
            q.close()
