"""A file handler dated by day (UTC) that also rotates by size.

``<dir>/<prefix>_YYYYMMDD<suffix>`` follows the day each line is written (``clock()`` if given,
else the record's own time), so a run that crosses midnight continues in the next day's file.
When a line would take the file past ``max_bytes`` the file is rotated like
:class:`logging.handlers.RotatingFileHandler`: ``.1`` is the newest backup, ``backup_count``
backups are kept (0: the file is truncated instead). With ``keep_days`` set, files of this prefix
dated more than ``keep_days`` days before the current day are deleted when a day starts.

If a file is reopened and does not end with a newline (a crash in the middle of a line), a
newline is written first, so a truncated line never runs into the next one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

DAY = 86400


class DailySizeRotatingFileHandler(logging.Handler):
    def __init__(
        self,
        directory: str | os.PathLike[str],
        prefix: str,
        suffix: str = ".log",
        *,
        max_bytes: int,
        backup_count: int,
        keep_days: int | None = None,
        clock: Callable[[], float] | None = None,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.directory = Path(directory)
        self.prefix = prefix
        self.suffix = suffix
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.keep_days = keep_days
        self._clock = clock
        self._stream: BinaryIO | None = None
        self._path: Path | None = None
        self._size = 0
        self._day_start = 0.0
        self._day_end = -1.0
        self._name_re = re.compile(rf"^{re.escape(prefix)}_(\d{{8}}){re.escape(suffix)}(?:\.\d+)?$")
        self._open_for(clock() if clock else time.time())

    # -- file management -------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """The file currently written to."""
        return self._path

    def path_for(self, t: float) -> Path:
        day = time.strftime("%Y%m%d", time.gmtime(t))
        return self.directory / f"{self.prefix}_{day}{self.suffix}"

    def _open_for(self, t: float) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._day_start = (t // DAY) * DAY
        self._day_end = self._day_start + DAY
        self._path = self.path_for(t)
        self._open_current()
        if self.keep_days is not None:
            self._prune(self._day_start)

    def _open_current(self) -> None:
        assert self._path is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        stream = open(self._path, "ab", buffering=0)  # noqa: SIM115 - kept open
        self._size = stream.seek(0, os.SEEK_END)
        if self._size > 0:
            with open(self._path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    self._size += stream.write(b"\n")
        self._stream = stream

    def _prune(self, day_start: float) -> None:
        assert self.keep_days is not None
        cutoff = time.strftime("%Y%m%d", time.gmtime(day_start - self.keep_days * DAY))
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            m = self._name_re.match(name)
            if m and m.group(1) < cutoff:
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / name)

    def _rollover(self) -> None:
        assert self._path is not None and self._stream is not None
        self._stream.close()
        self._stream = None
        base = str(self._path)
        if self.backup_count > 0:
            for i in range(self.backup_count - 1, 0, -1):
                src = f"{base}.{i}"
                if os.path.exists(src):
                    os.replace(src, f"{base}.{i + 1}")
            os.replace(base, f"{base}.1")
        else:
            open(base, "wb").close()
        self._open_current()

    # -- logging.Handler -------------------------------------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            t = self._clock() if self._clock else record.created
            if not (self._day_start <= t < self._day_end):
                self._open_for(t)
            if self._stream is None:
                self._open_current()
            if 0 < self.max_bytes < self._size + len(data) and self._size > 0:
                self._rollover()
            assert self._stream is not None
            self._stream.write(data)
            self._size += len(data)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        # Unbuffered: every write is already in the file.
        pass

    def close(self) -> None:
        self.acquire()
        try:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
        finally:
            self.release()
            super().close()
