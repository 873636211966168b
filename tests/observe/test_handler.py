"""The dated, size-rotating file handler and the files setup_logging installs."""

from __future__ import annotations

import calendar
import logging
from pathlib import Path

import pytest

from rubix_sync.errors import ConfigError
from rubix_sync.observe import (
    DailySizeRotatingFileHandler,
    FileLimits,
    LineFormatter,
    RotationConfig,
    setup_logging,
)

from .helpers import check_lines, read_all

JAN15_2359 = calendar.timegm((2024, 1, 15, 23, 59, 58, 0, 0, 0))


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _record(msg: str, created: float | None = None) -> logging.LogRecord:
    r = logging.LogRecord("rubix_sync.test", logging.INFO, __file__, 1, msg, None, None)
    if created is not None:
        r.created = created
    return r


def test_file_follows_the_day_across_midnight(tmp_path: Path) -> None:
    clock = Clock(JAN15_2359)
    h = DailySizeRotatingFileHandler(
        tmp_path, "sync_main", max_bytes=0, backup_count=3, clock=clock
    )
    h.setFormatter(logging.Formatter("%(message)s"))
    try:
        assert h.path == tmp_path / "sync_main_20240115.log"
        h.handle(_record("before midnight"))
        clock.t += 3  # 2024-01-16 00:00:01
        h.handle(_record("after midnight"))
        clock.t += 86400 * 2
        h.handle(_record("two days later"))
    finally:
        h.close()
    assert read_all(tmp_path) == {
        "sync_main_20240115.log": "before midnight\n",
        "sync_main_20240116.log": "after midnight\n",
        "sync_main_20240118.log": "two days later\n",
    }


def test_without_clock_the_record_time_dates_the_file(tmp_path: Path) -> None:
    h = DailySizeRotatingFileHandler(tmp_path, "sync_debug", max_bytes=0, backup_count=1)
    h.setFormatter(LineFormatter())
    try:
        h.handle(_record("late", JAN15_2359 + 1))
        h.handle(_record("early", JAN15_2359 + 2))
    finally:
        h.close()
    jan15 = (tmp_path / "sync_debug_20240115.log").read_text()
    jan16 = (tmp_path / "sync_debug_20240116.log").read_text()
    assert jan15 == "2024-01-15 23:59:59 - INFO - MAIN:GENERAL [--------] - late\n"
    assert jan16 == "2024-01-16 00:00:00 - INFO - MAIN:GENERAL [--------] - early\n"


def test_rotates_by_size_and_keeps_n_backups(tmp_path: Path) -> None:
    clock = Clock(JAN15_2359 - 3600)
    h = DailySizeRotatingFileHandler(
        tmp_path, "sync_errors", max_bytes=100, backup_count=2, clock=clock
    )
    h.setFormatter(logging.Formatter("%(message)s"))
    try:
        for i in range(10):
            h.handle(_record(f"line {i:02d} " + "x" * 30))  # 39 bytes each: 2 lines per file
    finally:
        h.close()
    files = read_all(tmp_path)
    assert sorted(files) == [
        "sync_errors_20240115.log",
        "sync_errors_20240115.log.1",
        "sync_errors_20240115.log.2",
    ]
    assert files["sync_errors_20240115.log"].startswith("line 08")
    assert files["sync_errors_20240115.log.1"].startswith("line 06")
    assert files["sync_errors_20240115.log.2"].startswith("line 04")
    assert all(len(t.encode()) <= 100 for t in files.values())
    assert all(t.count("\n") == 2 for t in files.values())


def test_keep_days_prunes_old_day_files(tmp_path: Path) -> None:
    for name in (
        "sync_main_20240101.log",
        "sync_main_20240101.log.3",
        "sync_main_20240110.log",
        "sync_main_20240108.log",
        "sync_debug_20240101.log",
        "sync_main_notes.txt",
    ):
        (tmp_path / name).write_text("old\n")
    h = DailySizeRotatingFileHandler(
        tmp_path, "sync_main", max_bytes=0, backup_count=1, keep_days=7, clock=Clock(JAN15_2359)
    )
    h.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sync_debug_20240101.log",  # another prefix: untouched
        "sync_main_20240108.log",  # exactly 7 days before: kept
        "sync_main_20240110.log",
        "sync_main_20240115.log",
        "sync_main_notes.txt",
    ]


def test_reopened_file_cut_mid_line_gets_a_newline_first(tmp_path: Path) -> None:
    path = tmp_path / "sync_events_20240115.jsonl"
    path.write_bytes(b'{"event":"ok"}\n{"event":"batch_wri')  # a crash mid-line
    h = DailySizeRotatingFileHandler(
        tmp_path, "sync_events", ".jsonl", max_bytes=0, backup_count=1, clock=Clock(JAN15_2359)
    )
    h.setFormatter(logging.Formatter("%(message)s"))
    try:
        h.handle(_record('{"event":"next"}'))
    finally:
        h.close()
    assert path.read_text().splitlines() == [
        '{"event":"ok"}',
        '{"event":"batch_wri',
        '{"event":"next"}',
    ]


def test_setup_logging_creates_the_guides_files_and_close_removes_handlers(
    logs_dir: Path,
) -> None:
    clock = Clock(JAN15_2359)
    root = logging.getLogger("rubix_sync")
    before = list(root.handlers)
    level_before = root.level
    for _ in range(2):  # setup and close repeatedly
        handle = setup_logging(logs_dir, clock=clock)
        try:
            assert len(root.handlers) == len(before) + 7
            logging.getLogger("rubix_sync.ipfs.rpc").debug("debug detail")
            logging.getLogger("rubix_sync.sink").info("sink info")
            logging.getLogger("rubix_sync.anything").error("an error")
        finally:
            handle.close()
        assert root.handlers == before
        assert root.level == level_before
    files = read_all(logs_dir)
    assert sorted(files) == [
        f"sync_{n}_20240115.{'jsonl' if n == 'events' else 'log'}"
        for n in ("debug", "errors", "events", "ipfs", "main", "sql", "sync", "validation")
    ]
    main = check_lines(files["sync_main_20240115.log"])
    assert [m["message"] for m in main] == ["sink info", "an error"] * 2
    debug = check_lines(files["sync_debug_20240115.log"])
    assert [m["message"] for m in debug] == ["debug detail", "sink info", "an error"] * 2
    assert [m["level"] for m in check_lines(files["sync_errors_20240115.log"])] == ["ERROR"] * 2
    sql = check_lines(files["sync_sql_20240115.log"])
    assert [(m["component"], m["message"]) for m in sql] == [("SQL", "sink info")] * 2
    # IPFS file is INFO+: the DEBUG line is only in the debug file
    assert files["sync_ipfs_20240115.log"] == ""
    assert files["sync_events_20240115.jsonl"] == ""


def test_rotation_config_applies_per_kind(logs_dir: Path) -> None:
    rot = RotationConfig(errors=FileLimits(max_bytes=200, backups=3))
    with setup_logging(logs_dir, rotation=rot, clock=Clock(JAN15_2359)) as handle:
        log = logging.getLogger("rubix_sync.sync")
        for i in range(8):
            log.error("failure number %d", i)
        assert handle.handlers["errors"].backup_count == 3  # type: ignore[attr-defined]
        assert handle.handlers["main"].max_bytes == 100 * 1024 * 1024  # type: ignore[attr-defined]
    names = sorted(p.name for p in logs_dir.iterdir())
    assert "sync_errors_20240115.log.1" in names
    assert "sync_errors_20240115.log.4" not in names
    assert "sync_main_20240115.log.1" not in names
    total = "".join((logs_dir / n).read_text() for n in names if n.startswith("sync_errors"))
    assert total.count("failure number") >= 6  # the newest lines survive in 3 backups + file


def test_defaults_are_the_guides() -> None:
    rot = RotationConfig()
    mb = 1024 * 1024
    assert (rot.main.max_bytes, rot.main.backups) == (100 * mb, 10)
    assert (rot.debug.max_bytes, rot.debug.backups) == (200 * mb, 5)
    assert (rot.errors.max_bytes, rot.errors.backups) == (50 * mb, 50)
    assert (rot.component.max_bytes, rot.component.backups) == (50 * mb, 10)


def test_unwritable_logs_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file, not a directory")
    with pytest.raises(ConfigError, match="logs directory .*--logs-dir"):
        setup_logging(blocker)
    assert logging.getLogger("rubix_sync").handlers == [] or all(
        not isinstance(h, DailySizeRotatingFileHandler)
        for h in logging.getLogger("rubix_sync").handlers
    )
