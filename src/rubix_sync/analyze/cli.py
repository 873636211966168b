"""``rubix-sync analyze``: flags -> :func:`rubix_sync.analyze.analyze_logs` -> a report."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from ..errors import ConfigError, redact
from . import analyze_logs, render_json, render_text, write_csv, write_plot


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"Error: {redact(message)}", err=True)
    raise click.exceptions.Exit(code)


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("expected an ISO date-time such as 2024-01-15T15:30:00") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


@click.command("analyze")
@click.option(
    "--logs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("logs"),
    show_default=True,
    help="Folder holding the sync logs (reads sync_events_YYYYMMDD.jsonl).",
)
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Only the last H hours (every section). Default: all logs.",
)
@click.option("--errors-only", is_flag=True, help="List errors with their correlation chains.")
@click.option(
    "--export-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the hourly metrics to FILE (CSV).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Report as the guide's text layout or as JSON with the same numbers.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Also draw records/sec and errors per hour to a PNG (needs rubix-sync[plot]).",
)
@click.option("--now", "now_text", hidden=True, help="Pretend the time is this (tests).")
def analyze(
    logs_dir: Path,
    hours: float | None,
    errors_only: bool,
    export_csv: Path | None,
    fmt: str,
    plot: Path | None,
    now_text: str | None,
) -> None:
    """Analyze the sync logs: performance, operations, errors, hourly trends, sessions.

    Reads the JSON event stream (sync_events_*.jsonl) beside the human logs; every number is
    defined in the rubix_sync.analyze docs. Times are UTC.
    """
    now = _parse_now(now_text)
    try:
        report = analyze_logs(logs_dir, hours=hours, now=now, errors=errors_only)
        if export_csv is not None:
            try:
                write_csv(report, export_csv)
            except OSError as exc:
                raise ConfigError(
                    f"Cannot write the CSV file {export_csv}: {exc.strerror}."
                ) from exc
        if plot is not None:
            write_plot(report, plot)
    except ConfigError as exc:
        _fail(str(exc), 2)
        return
    click.echo(render_json(report) if fmt == "json" else render_text(report), nl=False)
