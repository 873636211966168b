"""Run a check without root's privileges: these tests run as root in CI, where file modes
do not stop anything; a forked child that dropped to uid/gid 65534 sees them as an operator does."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

NOBODY = 65534


def as_nobody(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a child without root (or directly when not root); its exception, if
    any, is raised here again as ``(type name, message)`` inside an AssertionError."""
    if os.geteuid() != 0:
        return fn(*args)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            result = ("raised", (type(exc).__name__, str(exc)))
        with os.fdopen(w, "wb") as fh:
            try:
                pickle.dump(result, fh)
            except Exception as exc:  # noqa: BLE001
                pickle.dump(("raised", ("PicklingError", str(exc))), fh)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        kind, value = pickle.load(fh)
    os.waitpid(pid, 0)
    if kind == "raised":
        raise ChildRaised(*value)
    return value


class ChildRaised(Exception):
    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


@contextmanager
def shared_tmp() -> Iterator[Path]:
    """A temporary folder the unprivileged child can reach (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="rubix-nobody-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
