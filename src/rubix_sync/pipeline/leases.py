"""This process's leases on node databases, kept in the central database.

A lease lets one process at a time sync a database, so machines that see the same node storage
split the work. The holder is named ``machine:host:pid``: a lease whose holder process is gone
from this host is taken over at once; any other only when it expires (``lease_ttl`` without a
renewal). Without a central database (``--dry-run``) every lease is granted.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import suppress

from ..errors import RubixSyncError
from ..sink import CentralDB

FOREVER = float("inf")


class Leases:
    def __init__(
        self, db: CentralDB | None, machine_name: str, host: str | None, ttl: float
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.host = host or socket.gethostname()
        self.holder = f"{machine_name}:{self.host}:{os.getpid()}"

    def acquire(self, db_path: str) -> float | None:
        """Take the lease; its end (monotonic clock), or None when another process holds it."""
        if self.db is None:
            return FOREVER
        t0 = time.monotonic()
        ok = self.db.try_acquire_lease(db_path, self.holder, self.ttl, is_dead=self.is_dead)
        return t0 + self.ttl if ok else None

    def renew(self, db_path: str) -> float | None:
        """Extend the lease; its new end, or None when another process has taken it over."""
        if self.db is None:
            return FOREVER
        t0 = time.monotonic()
        return t0 + self.ttl if self.db.renew_lease(db_path, self.holder, self.ttl) else None

    def release(self, db_path: str) -> None:
        if self.db is not None:
            with suppress(RubixSyncError):
                self.db.release_lease(db_path, self.holder)

    def is_dead(self, holder: str) -> bool:
        """A holder ``machine:host:pid`` on this host whose process no longer exists."""
        _, _, rest = holder.partition(":")
        host, _, pid_text = rest.rpartition(":")
        if host != self.host or not pid_text.isdigit() or int(pid_text) == os.getpid():
            return False
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, under another user
            return False
        return False
