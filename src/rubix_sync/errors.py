"""The exception tree of rubix-sync.

Every error the library raises on purpose is a :class:`RubixSyncError`. Driver and OS errors are
mapped at the boundary (``source``, ``ipfs``, ``sink``, ``notify``) into these classes and
re-raised ``from exc``, so callers sort them by kind, not by driver::

    RubixSyncError
    ├── ConfigError               bad flag, env var or config file          (terminal, exit 2)
    │   └── MissingDependencyError  optional driver absent; names the pip line (terminal, exit 2)
    ├── TransientError            worth retrying: busy, timeout, connection dropped
    │   ├── SourceBusyError       node database locked (SQLITE_BUSY)
    │   ├── FetchTransientError   IPFS daemon slow or 5xx
    │   └── SinkTransientError    central database connection lost, deadlock, serialization
    └── TerminalError             record with its reason and move on
        ├── SourceError           node database missing, not SQLite, corrupt
        ├── RepoUnreadableError   a fetcher cannot read this node's repo (badger, missing, ...)
        ├── BlockFormatError      malformed or truncated dag-pb / UnixFS / CID
        └── SinkError             central database unreachable or rejected a statement
            └── LeaseLostError    another machine took over the database being written

Messages name the thing and the fix, and never carry a secret: use :func:`redact` on anything
that might hold a URL with a password or a bot token.
"""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@"
)
_BOT_TOKEN = re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}")
_ODBC_PWD = re.compile(r"(?i)\b(pwd|password)\s*=\s*(\{[^}]*\}|[^;\s\"')\]},]+)")


def redact(text: object) -> str:
    """Return ``str(text)`` with passwords in URLs, ODBC ``PWD=`` values and bot tokens masked."""
    s = str(text)
    s = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", s)
    s = _BOT_TOKEN.sub("***", s)
    s = _ODBC_PWD.sub(lambda m: f"{m.group(1)}=***", s)
    return s


class RubixSyncError(Exception):
    """Base of every error rubix-sync raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class ConfigError(RubixSyncError):
    """Bad usage or configuration; the CLI prints one line and exits 2."""


class MissingDependencyError(ConfigError):
    """An optional driver is not installed."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(
            f"{what} needs an optional dependency. Install it with: "
            f"pip install 'rubix-sync[{extra}]'"
        )
        self.extra = extra


class TransientError(RubixSyncError):
    """Worth retrying with backoff."""


class TerminalError(RubixSyncError):
    """Retrying will not help: record the reason and go on."""


class SourceBusyError(TransientError):
    """A node database stayed locked."""


class FetchTransientError(TransientError):
    """An IPFS fetch timed out or the daemon answered with a server error."""


class SinkTransientError(TransientError):
    """The central database dropped the connection or asked to retry."""


class SourceError(TerminalError):
    """A node database is missing, not SQLite, or corrupt."""


class RepoUnreadableError(TerminalError):
    """A fetcher cannot read this node's IPFS repo."""


class BlockFormatError(TerminalError):
    """A block, CID or UnixFS structure is malformed or truncated."""


class SinkError(TerminalError):
    """The central database is unreachable or rejected a statement."""


class LeaseLostError(SinkError):
    """A batch was refused because this process no longer holds the database's lease."""
