"""Fixtures for the observe tests: log files installed under tmp_path, closed after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rubix_sync.observe import LoggingHandle, setup_logging


@pytest.fixture
def logs_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def handle(logs_dir: Path) -> Iterator[LoggingHandle]:
    h = setup_logging(logs_dir)
    try:
        yield h
    finally:
        h.close()
