"""Docs that fail CI when they drift: settings, environment variables and commands."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from rubix_sync.cli import main
from rubix_sync.config import setting_env_names

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = README + (ROOT / "docs" / "configuration.md").read_text()


def test_every_setting_is_in_the_readme_table():
    for name, env in setting_env_names().items():
        assert f"| {name} | `{env}` |" in README, f"{name} / {env} missing from README"


def test_every_environment_variable_the_code_reads_is_documented():
    names: set[str] = set()
    for path in (ROOT / "src" / "rubix_sync").rglob("*.py"):
        names |= set(re.findall(r"RUBIX_SYNC_[A-Z_]+[A-Z]", path.read_text()))
    names.discard("RUBIX_SYNC_")
    missing = sorted(n for n in names if f"`{n}`" not in DOCS)
    assert not missing, f"undocumented environment variables: {missing}"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, prefix + name + " ")
    return out


def test_every_command_has_help_and_a_readme_entry():
    runner = CliRunner()
    commands = _commands(main)
    names = {name for name, _ in commands}
    assert {
        "run",
        "demo",
        "analyze",
        "status",
        "report errors",
        "dashboard",
        "notify test",
    } <= names
    for name, cmd in commands:
        assert cmd.help and len(cmd.help.strip()) > 20, f"{name} has no help text"
        top = name.split()[0]
        assert f"rubix-sync {top}" in README, f"`rubix-sync {top}` is not in the README"
        result = runner.invoke(main, [*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output
