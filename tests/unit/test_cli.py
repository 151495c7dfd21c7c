"""The command line reads well: the root and every command answer --help."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pioneer.cli import COMMANDS, cli

AVAILABLE = cli.list_commands(None)  # type: ignore[arg-type]


def test_root_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    assert "keeps small language models improving" in result.output
    for name in AVAILABLE:
        assert name in result.output


def test_core_commands_are_present() -> None:
    assert {"broker", "topics"} <= set(AVAILABLE) <= set(COMMANDS)


@pytest.mark.parametrize("name", AVAILABLE)
def test_each_command_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4


def test_unknown_command_fails_clearly() -> None:
    result = CliRunner().invoke(cli, ["retrian"])
    assert result.exit_code != 0 and "No such command" in result.output
