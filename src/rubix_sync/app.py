"""The application around the library: install log files and the listeners, run, summarise.

The library (``pipeline.sync``) never installs handlers or prints; this module does, for the
command line. Tests call :func:`run_app` to exercise exactly what ``rubix-sync run`` does.
"""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .config import DEFAULT_DATABASE_FILE, Settings
from .console import ProgressDisplay, format_summary
from .errors import ConfigError, redact
from .events import EventBus
from .identity import Identity, resolve_identity
from .pipeline import sync
from .pipeline.runner import SyncResult

if TYPE_CHECKING:
    from .observe import RotationConfig

log = logging.getLogger("rubix_sync.main")

DEMO_MARKER = ".rubix-sync-demo.json"


def run_app(
    settings: Settings,
    document: dict[str, Any],
    *,
    progress: bool = True,
    notifications: bool = True,
) -> SyncResult:
    """Run one sync as the CLI does and print its summary; returns the result."""
    from .observe import LogListener, setup_logging

    identity = resolve_identity(settings)
    bus = EventBus()
    with ExitStack() as stack:
        handle = setup_logging(settings.logs_dir, rotation=rotation_config(settings))
        stack.callback(handle.close)
        bus.subscribe(LogListener(identity.machine_name))
        if settings.metrics_port is not None:
            from .fleet.metrics import MetricsListener, start_metrics_server

            metrics = MetricsListener(identity.machine_name)
            server = start_metrics_server(settings.metrics_port, metrics.registry)
            stack.callback(server.close)
            bus.subscribe(metrics)
        if notifications:
            _subscribe_notifications(bus, settings, document, identity, stack)
        if progress:
            bus.subscribe(ProgressDisplay())
        result = sync(settings, bus=bus, identity=identity)
    url = settings.database_url_value()
    database = redact(url) if url else str(Path(DEFAULT_DATABASE_FILE).resolve())
    click.echo(format_summary(result, database=database, logs_dir=str(settings.logs_dir)))
    return result


def rotation_config(settings: Settings) -> RotationConfig:
    """The guide's rotation defaults, with the operator's ``log_rotation`` overrides."""
    import dataclasses

    from .observe import FileLimits, RotationConfig

    base = RotationConfig()
    changes: dict[str, FileLimits] = {}
    for kind, limits in settings.log_rotation.items():
        default: FileLimits = getattr(base, kind)
        changes[kind] = FileLimits(
            max_bytes=int(limits.max_mb * 1024 * 1024)
            if limits.max_mb is not None
            else default.max_bytes,
            backups=limits.backups if limits.backups is not None else default.backups,
            keep_days=limits.keep_days if limits.keep_days is not None else default.keep_days,
        )
    return dataclasses.replace(base, **changes)


def _subscribe_notifications(
    bus: EventBus,
    settings: Settings,
    document: dict[str, Any],
    identity: Identity,
    stack: ExitStack,
) -> None:
    """Telegram (and Apprise) messages, when configured; the machine identity tags each one."""
    from .notify import MachineIdentity, NotificationListener, load_telegram_config

    section = document.get("telegram")
    config = load_telegram_config(
        settings.telegram_config, overrides=section if isinstance(section, dict) else None
    )
    if config is None:
        return
    for warning in config.warnings:
        click.echo(f"Warning: {warning}", err=True)
    who = MachineIdentity.resolve(
        (identity.machine_name if settings.machine_name else None, identity.public_ip),
        (config.machine_name, config.public_ip),
        (identity.machine_name, None),
    )
    listener = NotificationListener.from_config(config, who)
    if listener is None:
        return
    stack.callback(listener.close)
    bus.subscribe(listener)


def prepare_demo(root: Path, *, nodes: int, tokens_per_node: int, faults: bool, seed: int) -> str:
    """Create the demo deployment under ``root`` (kept when it already matches); one line back."""
    from .demo import make_deployment

    params = {"nodes": nodes, "tokens_per_node": tokens_per_node, "faults": faults, "seed": seed}
    marker = root / DEMO_MARKER
    if root.exists():
        if marker.exists():
            try:
                if json.loads(marker.read_text()) == params:
                    return (
                        f"Demo deployment in {root} is unchanged ({nodes} nodes); syncing it again."
                    )
            except (OSError, ValueError):
                pass
            shutil.rmtree(root)
        elif any(root.iterdir()):
            raise ConfigError(f"{root} exists and is not a demo deployment; choose another --root.")
    info = make_deployment(
        root, nodes=nodes, tokens_per_node=tokens_per_node, faults=faults, seed=seed
    )
    marker.write_text(json.dumps(params))
    total = getattr(info, "total_tokens", nodes * tokens_per_node)
    return f"Demo deployment created in {root}: {nodes} nodes, {total:,} tokens" + (
        " (with planted faults)" if faults else ""
    )
