"""``rubix-sync status``, ``rubix-sync report sessions|errors|hourly`` and
``rubix-sync dashboard``: thin click commands over :mod:`.status`, :mod:`.reports` and
:mod:`.dashboard`. Register them on the main group with ``main.add_command(...)``.

Exit codes: 0 shown; 2 bad usage, unreachable or empty central database, port in use.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import ConfigError, RubixSyncError, redact
from . import render
from ._db import (
    DATABASE_URL_ENV,
    has_sessions_table,
    open_engine,
    resolve_url,
    sessions,
    utc_now,
)
from .reports import active_sessions, error_patterns, hourly_records
from .status import DEFAULT_STALE_AFTER, fleet_status

F = TypeVar("F", bound=Callable[..., Any])

DASHBOARD_TOKEN_ENV = "RUBIX_SYNC_DASHBOARD_TOKEN"  # noqa: S105 (a variable name)
DASHBOARD_BASIC_AUTH_ENV = "RUBIX_SYNC_DASHBOARD_BASIC_AUTH"


class FleetUsageError(click.ClickException):
    """One ``Error: …`` line on stderr and exit code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


def _one_line_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RubixSyncError as exc:
            raise FleetUsageError(str(exc)) from None
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise FleetUsageError(f"The central database failed: {reason}") from None

    return wrapper  # type: ignore[return-value]


def database_option(func: F) -> F:
    return click.option(
        "--database",
        "database_url",
        metavar="URL",
        help=f"SQLAlchemy URL of the central database (env {DATABASE_URL_ENV}). "
        "Default: sqlite:///rubix_sync.db in the working directory.",
    )(func)


def format_option(func: F) -> F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="A table (rich on a terminal, plain columns otherwise) or JSON.",
    )(func)


@contextmanager
def open_fleet_db(database_url: str | None) -> Iterator[Engine]:
    """The central database, refusing (ConfigError) an unreachable or never-used one."""
    url = resolve_url(database_url)
    engine = open_engine(url)
    try:
        if not has_sessions_table(engine):
            raise ConfigError(
                f"No sync sessions yet in {redact(url)}: run 'rubix-sync run' against it first."
            )
        with engine.connect() as conn:
            any_session = conn.execute(sa.select(sessions.c.session_id).limit(1)).first()
        if any_session is None:
            raise ConfigError(
                f"No sync sessions yet in {redact(url)}: run 'rubix-sync run' against it first."
            )
        yield engine
    finally:
        engine.dispose()


def _is_tty() -> bool:
    return sys.stdout.isatty()


def _emit_table(headers: list[str], rows: list[list[str]], title: str | None = None) -> None:
    if _is_tty():
        from rich.console import Console

        Console().print(render.rich_table(headers, rows, title))
    else:
        if title:
            click.echo(title)
        click.echo(render.plain_table(headers, rows))


def _emit_json(items: list[dict[str, object]]) -> None:
    click.echo(json.dumps(items, indent=2))


# --- status ---------------------------------------------------------------------------------


@click.command("status")
@database_option
@click.option(
    "--watch",
    type=click.FloatRange(min=0.5),
    metavar="SECONDS",
    help="Refresh every SECONDS until Ctrl-C.",
)
@format_option
@click.option(
    "--stale-after",
    type=click.FloatRange(min=1),
    default=DEFAULT_STALE_AFTER,
    show_default=True,
    metavar="SECONDS",
    help="A RUNNING session without a heartbeat for this long shows as STALE.",
)
@click.option("--refreshes", type=click.IntRange(min=1), hidden=True, help="Stop after N frames.")
@_one_line_errors
def status_command(
    database_url: str | None,
    watch: float | None,
    fmt: str,
    stale_after: float,
    refreshes: int | None,
) -> None:
    """One row per machine: its latest session's state (RUNNING, COMPLETED, FAILED,
    INTERRUPTED, or STALE when it stopped sending heartbeats), progress in databases, records,
    rate, ETA, IPFS success %, validation pass %, errors (failed fetches + SQL errors) and the
    age of its last heartbeat. With --watch and --format json: one JSON array per line."""
    with open_fleet_db(database_url) as engine:

        def frame() -> tuple[list[dict[str, object]], list[list[str]]]:
            rows = fleet_status(engine, stale_after_seconds=stale_after)
            return [r.as_dict() for r in rows], render.status_rows(rows)

        if watch is None:
            data, cells = frame()
            if fmt == "json":
                _emit_json(data)
            else:
                _emit_table(render.STATUS_HEADERS, cells)
            return
        try:
            _watch(frame, watch, fmt, refreshes)
        except KeyboardInterrupt:
            return


def _watch(
    frame: Callable[[], tuple[list[dict[str, object]], list[list[str]]]],
    interval: float,
    fmt: str,
    refreshes: int | None,
) -> None:
    n = 0
    if fmt == "table" and _is_tty():
        from rich.console import Console
        from rich.live import Live

        with Live(console=Console(), auto_refresh=False) as live:
            while refreshes is None or n < refreshes:
                if n:
                    time.sleep(interval)
                _, cells = frame()
                stamp = render.fmt_time(utc_now())
                live.update(
                    render.rich_table(
                        render.STATUS_HEADERS, cells, f"rubix-sync fleet, {stamp} UTC"
                    ),
                    refresh=True,
                )
                n += 1
        return
    while refreshes is None or n < refreshes:
        if n:
            time.sleep(interval)
        data, cells = frame()
        if fmt == "json":
            click.echo(json.dumps(data))
        else:
            if n:
                click.echo("")
            click.echo(f"rubix-sync fleet, {render.fmt_time(utc_now())} UTC")
            click.echo(render.plain_table(render.STATUS_HEADERS, cells))
        n += 1


# --- report ---------------------------------------------------------------------------------


@click.group("report")
def report_group() -> None:
    """The monitoring queries of the operators' guide, on any supported database."""


def hours_option(func: F) -> F:
    return click.option(
        "--hours",
        type=click.IntRange(min=1, max=24 * 366),
        default=24,
        show_default=True,
        help="Look back this many hours.",
    )(func)


@report_group.command("sessions")
@database_option
@format_option
@click.option(
    "--stale-after",
    type=click.FloatRange(min=1),
    default=DEFAULT_STALE_AFTER,
    show_default=True,
    metavar="SECONDS",
    help="Mark RUNNING sessions without a heartbeat for this long as STALE.",
)
@_one_line_errors
def report_sessions(database_url: str | None, fmt: str, stale_after: float) -> None:
    """Active sessions (status RUNNING), newest first, with records/s since their start."""
    with open_fleet_db(database_url) as engine:
        rows = active_sessions(engine, stale_after_seconds=stale_after)
    if fmt == "json":
        _emit_json([r.as_dict() for r in rows])
    elif not rows:
        click.echo("No active sessions.")
    else:
        _emit_table(render.SESSIONS_HEADERS, render.sessions_rows(rows))


@report_group.command("errors")
@database_option
@hours_option
@format_option
@_one_line_errors
def report_errors(database_url: str | None, hours: int, fmt: str) -> None:
    """Per machine over the last N hours: records synced, IPFS successes and failures,
    records with validation errors."""
    with open_fleet_db(database_url) as engine:
        rows = error_patterns(engine, hours=hours)
    if fmt == "json":
        _emit_json([r.as_dict() for r in rows])
    elif not rows:
        click.echo(f"No records synced in the last {hours} hours.")
    else:
        _emit_table(render.ERRORS_HEADERS, render.errors_rows(rows))


@report_group.command("hourly")
@database_option
@hours_option
@format_option
@_one_line_errors
def report_hourly(database_url: str | None, hours: int, fmt: str) -> None:
    """Records synced per UTC hour over the last N hours (hours without records omitted)."""
    with open_fleet_db(database_url) as engine:
        rows = hourly_records(engine, hours=hours)
    if fmt == "json":
        _emit_json([r.as_dict() for r in rows])
    elif not rows:
        click.echo(f"No records synced in the last {hours} hours.")
    else:
        _emit_table(render.HOURLY_HEADERS, render.hourly_rows(rows))


# --- dashboard ------------------------------------------------------------------------------


@click.command("dashboard")
@database_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback needs --token or --basic-auth.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--token",
    envvar=DASHBOARD_TOKEN_ENV,
    metavar="TOKEN",
    help=f"Require this access token (Authorization: Bearer TOKEN, or ?token=TOKEN "
    f"in the page URL). Env {DASHBOARD_TOKEN_ENV}.",
)
@click.option(
    "--basic-auth",
    envvar=DASHBOARD_BASIC_AUTH_ENV,
    metavar="USER:PASS",
    help=f"Require HTTP basic auth with this user and password. Env {DASHBOARD_BASIC_AUTH_ENV}.",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=1),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How often the page fetches fresh data.",
)
@click.option(
    "--stale-after",
    type=click.FloatRange(min=1),
    default=DEFAULT_STALE_AFTER,
    show_default=True,
    metavar="SECONDS",
    help="A RUNNING session without a heartbeat for this long shows as STALE.",
)
@_one_line_errors
def dashboard_command(
    database_url: str | None,
    host: str,
    port: int,
    token: str | None,
    basic_auth: str | None,
    refresh: float,
    stale_after: float,
) -> None:
    """A read-only web page of the fleet: machines, progress bars, records per hour, recent
    errors; it refreshes itself. GET /api/fleet serves the same data as JSON. Binds 127.0.0.1
    unless told otherwise, and then only with an access token or basic auth."""
    from .dashboard import Dashboard, DashboardAuth

    auth = DashboardAuth.from_options(token=token, basic_auth=basic_auth)
    with open_fleet_db(database_url) as engine:
        board = Dashboard(
            engine,
            host=host,
            port=port,
            auth=auth,
            refresh_seconds=refresh,
            stale_after_seconds=stale_after,
        )
        board.bind()
        click.echo(f"Dashboard on {board.url} (read-only; Ctrl-C to stop)")
        try:
            board.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            board.close()


COMMANDS: tuple[click.Command, ...] = (status_command, report_group, dashboard_command)
"""Everything to ``add_command`` on the main ``rubix-sync`` group."""
