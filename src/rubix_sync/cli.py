"""The ``rubix-sync`` command: parse flags, call the library, turn its errors into one line.

Exit codes: 0 all synced; 1 finished but some databases or tokens failed; 2 bad usage or
configuration, or the central database unreachable; 130 interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import ConfigError, RubixSyncError, SinkError, redact

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("rubix_sync.main")


def fail(message: str, code: int = 2) -> None:
    click.echo(f"Error: {redact(message)}", err=True)
    sys.exit(code)


def one_line_errors(func: F) -> F:
    """Map library errors to ``Error: …`` and an exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (ConfigError, SinkError) as exc:
            fail(str(exc), 2)
        except RubixSyncError as exc:
            fail(str(exc), 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except OSError as exc:
            fail(f"{exc.strerror or exc} ({exc.filename or ''})".strip(), 2)
        except Exception as exc:  # a bug: one line here, the traceback in the errors log
            log.exception("unexpected error")
            fail(f"unexpected {type(exc).__name__}: {exc} (the traceback is in the errors log)", 1)
        return None

    return wrapper  # type: ignore[return-value]


class LazyGroup(click.Group):
    """Commands of other packages imported only when used, so `run` starts fast."""

    LAZY = {
        "analyze": "rubix_sync.analyze.cli:analyze",
        "dashboard": "rubix_sync.fleet.cli:dashboard_command",
        "notify": "rubix_sync.notify.cli:notify",
        "report": "rubix_sync.fleet.cli:report_group",
        "status": "rubix_sync.fleet.cli:status_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.LAZY.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="rubix-sync")
def main() -> None:
    """Audit a fleet of Rubix nodes: every token of every node, its IPFS content fetched and
    verified, written once into a central SQL database.

    Start with `rubix-sync demo`; then `rubix-sync run --root /datadrive`.
    """


def sync_options(func: F) -> F:
    options = [
        click.option(
            "--database",
            "database_url",
            metavar="URL",
            help="SQLAlchemy URL of the central database (env RUBIX_SYNC_DATABASE_URL). "
            "Default: embedded SQLite file rubix_sync.db in the working directory.",
        ),
        click.option(
            "--logs-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder for the audit logs (env RUBIX_SYNC_LOGS_DIR). Default: logs/.",
        ),
        click.option(
            "--machine-name",
            help="Name of this VM in records and messages (env RUBIX_SYNC_MACHINE_NAME). "
            "Default: the host name.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(0, 64),
            help="Databases processed at once "
            "(worker processes; 0 runs in-process). Env RUBIX_SYNC_WORKERS.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1, 50_000),
            help="Tokens per fetch/write batch (env RUBIX_SYNC_BATCH_SIZE). Default 1000.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@click.option(
    "--root",
    "roots",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder to search for node databases (Rubix/rubix.db); repeat for several "
    "(env RUBIX_SYNC_ROOTS, separated by ':').",
)
@sync_options
@click.option(
    "--public-ip",
    help="Public IP recorded with every record (env RUBIX_SYNC_PUBLIC_IP). Default: detected.",
)
@click.option(
    "--no-ip-detection",
    "detect_public_ip",
    flag_value=False,
    default=None,
    help="Do not ask the network for the public IP (env RUBIX_SYNC_DETECT_PUBLIC_IP=0).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config file (env RUBIX_SYNC_CONFIG). Flags > env > file > defaults.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    default=None,
    help="Read, fetch and validate, but write nothing to the central database.",
)
@click.option(
    "--fetcher",
    type=click.Choice(["auto", "blockstore", "rpc", "cli"]),
    help="Force how token content is read (env RUBIX_SYNC_FETCHER). Default: auto.",
)
@click.option(
    "--ipfs-api-url",
    help="Kubo RPC URL for the rpc fetcher (env RUBIX_SYNC_IPFS_API_URL). "
    "Default: each node's .ipfs/api file.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on 127.0.0.1:PORT while running.",
)
@click.option(
    "--shared-storage",
    metavar="NAME",
    help="Node folders are shared with other machines under this name: split the "
    "databases between them through leases in the central database.",
)
@click.option(
    "--telegram-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="telegram_config.json to use (env RUBIX_SYNC_TELEGRAM_CONFIG).",
)
@click.option("--no-progress", is_flag=True, help="No live progress display, even on a terminal.")
@one_line_errors
def run(no_progress: bool, **flags: Any) -> None:
    """Sync every node database under the roots into the central database."""
    from .app import run_app
    from .config import load_settings

    settings, document = load_settings(flags)
    if not settings.roots:
        raise ConfigError("No folder to search: give --root PATH (or RUBIX_SYNC_ROOTS).")
    result = run_app(settings, document, progress=not no_progress)
    sys.exit(result.exit_code)


@main.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-nodes"),
    show_default=True,
    help="Folder to create the demo nodes in.",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, 500),
    default=5,
    show_default=True,
    help="Number of node folders.",
)
@click.option(
    "--tokens-per-node",
    type=click.IntRange(1, 1_000_000),
    default=200,
    show_default=True,
    help="Tokens per node database.",
)
@click.option(
    "--faults",
    is_flag=True,
    help="Plant missing, tampered and malformed tokens and a corrupt database.",
)
@click.option("--no-sync", is_flag=True, help="Only create the deployment.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generator.")
@sync_options
@one_line_errors
def demo(
    root: Path,
    nodes: int,
    tokens_per_node: int,
    faults: bool,
    no_sync: bool,
    seed: int,
    **flags: Any,
) -> None:
    """Create a realistic sample deployment (node databases and kubo repos) and sync it.

    Nothing leaves this machine: public-IP detection and notifications are off.
    """
    from .app import prepare_demo, run_app
    from .config import load_settings

    info = prepare_demo(
        root, nodes=nodes, tokens_per_node=tokens_per_node, faults=faults, seed=seed
    )
    click.echo(info)
    if no_sync:
        return
    flags.update(roots=[root], detect_public_ip=False, telegram_config=None)
    flags.setdefault("machine_name", None)
    settings, document = load_settings(flags)
    result = run_app(settings, document, progress=True, notifications=False)
    sys.exit(result.exit_code)
