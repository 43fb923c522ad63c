"""The project's install files agree with each other and the commands they promise exist."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml

from .conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    project = _pyproject()["project"]
    expected = {_name(r): r for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    listed: dict[str, str] = {}
    for dep in env["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            listed[_name(item)] = item
    listed.pop("python")
    listed.pop("pip")
    assert set(listed) == set(expected), (
        f"only in environment.yml: {set(listed) - set(expected)}; "
        f"only in pyproject: {set(expected) - set(listed)}"
    )
    for name, requirement in expected.items():
        assert listed[name].replace(" ", "") == requirement.replace(" ", ""), (
            f"version pins differ for {name}"
        )


def test_readme_shows_the_two_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make dashboard" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_cli_help_explains_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mdx.cli", "--help"], capture_output=True, text=True, check=True
    )
    for word in ("monitor", "record", "replay", "sim", "replay:PATH"):
        assert word in result.stdout
    for command in ("monitor", "record", "replay"):
        sub = subprocess.run(
            [sys.executable, "-m", "mdx.cli", command, "--help"], capture_output=True, text=True, check=True
        )
        assert "usage: mdx " + command in sub.stdout
