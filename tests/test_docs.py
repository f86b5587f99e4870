"""The docs must say what the code does: every setting documented, every command listed."""

import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

from vde.cli import COMMANDS, cli
from vde.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_table():
    missing = [n for n in Settings.model_fields if f"`VDE_{n.upper()}`" not in README]
    assert not missing, f"settings not documented in README: {missing}"


def test_example_toml_lists_every_setting_and_parses_when_uncommented():
    text = (ROOT / "docs" / "vde.example.toml").read_text()
    for name in Settings.model_fields:
        assert f"# {name} =" in text, name
    uncommented = "\n".join(
        line[2:] for line in text.splitlines() if re.match(r"# [a-z_]+ = \S", line)
    )
    parsed = tomllib.loads(uncommented)
    assert parsed["database"] == "sqlite:///vde.db"


def test_readme_opens_with_the_two_commands():
    head = README[:2500]
    assert "make demo" in head and "make test" in head


def test_every_command_has_help_and_is_in_the_readme():
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert f"vde {name}" in README, f"`vde {name}` is not documented in the README"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README
