"""The README tells a newcomer what the code has: names that cannot drift from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ddpm_tutorial
from ddpm_tutorial.runs import CONFIG_NAMES

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_config_name_is_in_the_readme(name):
    assert f"`{name}`" in README, f"README.md does not name the config {name!r}"


def test_every_environment_variable_the_package_reads_is_in_the_readme():
    package = Path(ddpm_tutorial.__file__).parent
    names = {
        name
        for path in package.rglob("*.py")
        for name in re.findall(r"DDPM_TUTORIAL_[A-Z_]+", path.read_text())
    }
    assert "DDPM_TUTORIAL_OFFLINE" in names
    assert sorted(n for n in names if f"`{n}" not in README) == []


def test_every_path_in_the_layout_table_exists():
    table = README.split("## Layout", 1)[1]
    paths = [
        p
        for row in table.splitlines()
        if row.startswith("| `")
        for p in re.findall(r"`([^`]+)`", row.split("|")[1])
    ]
    assert {"tools/", "environment.yml", "pyproject.toml", "book/"} <= set(paths)
    assert [p for p in paths if not (REPO / p).exists()] == []
