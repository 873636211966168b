"""``--plot``: records/s and errors per hour, drawn with matplotlib (extra ``plot``)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, MissingDependencyError
from ._report import Report


def write_plot(report: Report, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("Plotting (--plot)", "plot") from exc

    hours = [h.hour.replace(tzinfo=None) for h in report.hourly]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    try:
        ax1.plot(hours, [h.rate for h in report.hourly], marker="o")
        ax1.set_ylabel("records/sec")
        ax1.set_title("Rubix token sync - hourly performance (UTC)")
        ax1.grid(True, alpha=0.3)
        ax2.bar(hours, [h.errors for h in report.hourly], width=1 / 30, color="tab:red")
        ax2.set_ylabel("errors")
        ax2.set_xlabel("hour (UTC)")
        ax2.grid(True, alpha=0.3)
        if not hours:
            ax1.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax1.transAxes)
        fig.autofmt_xdate()
        try:
            fig.savefig(path, format="png", dpi=100)
        except OSError as exc:
            raise ConfigError(f"Cannot write the plot to {path}: {exc.strerror}.") from exc
    finally:
        plt.close(fig)
