"""Turn the ``--database`` value into (dialect, SQLAlchemy URL), or a one-line error."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import sqlalchemy as sa

from ..errors import ConfigError, MissingDependencyError, SinkError, redact
from .dialects import SCHEMES, Dialect, for_kind

DEFAULT_SQLITE_FILE = "rubix_sync.db"

_EXAMPLES = (
    "sqlite:///path/to/rubix_sync.db, postgresql://USER:YOUR_PASSWORD@HOST:5432/DB or "
    "mssql+pyodbc://USER:YOUR_PASSWORD@HOST/DB"
)


def safe(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def resolve(url: str | None) -> tuple[Dialect, sa.URL]:
    """Parse, normalise (``postgres://`` → ``postgresql+psycopg://``...) and check the driver."""
    if url is None or not url.strip():
        url = f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"
    try:
        parsed = sa.make_url(url.strip())
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"Invalid database URL {redact(url)!r}: expected a URL such as {_EXAMPLES}"
        ) from exc
    kind = SCHEMES.get(parsed.drivername.lower())
    if kind is None:
        raise ConfigError(
            f"Unsupported database URL scheme {parsed.drivername!r} in {safe(parsed)}: "
            f"use {_EXAMPLES}"
        )
    dialect = for_kind(kind)
    parsed = dialect.prepare_url(parsed)
    if dialect.driver_module and dialect.extra:
        try:
            importlib.import_module(dialect.driver_module)
        except ImportError as exc:
            raise MissingDependencyError(
                f"The central database {safe(parsed)} ({dialect.drivername})", dialect.extra
            ) from exc
    if kind == "sqlite":
        _check_sqlite_location(parsed)
    return dialect, parsed


def _check_sqlite_location(url: sa.URL) -> None:
    """Fail early, with the path and the fix, when the SQLite file cannot be created."""
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:") or url.query.get("uri"):
        return
    path = Path(db).expanduser()
    fix = "Choose a writable location with --database sqlite:///PATH/rubix_sync.db"
    if path.exists():
        if path.is_dir():
            raise SinkError(f"Cannot use {path} as the SQLite database: it is a folder. {fix}")
        if not os.access(path, os.R_OK | os.W_OK):
            raise SinkError(f"Cannot write the SQLite database {path}: permission denied. {fix}")
        return
    parent = path.parent
    if not parent.exists():
        raise SinkError(
            f"Cannot create the SQLite database {path}: the folder {parent} does not exist. {fix}"
        )
    if not parent.is_dir():
        raise SinkError(
            f"Cannot create the SQLite database {path}: {parent} is not a folder. {fix}"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SinkError(
            f"Cannot create the SQLite database {path}: the folder {parent} is not writable. {fix}"
        )
