"""The API page documents every module of the package, once."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import ddpm_tutorial

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_module_has_one_section_on_the_api_page():
    page = (ROOT / "book" / "appendices" / "api.md").read_text()
    documented = re.findall(r"^\.\. automodule:: (\S+)$", page, flags=re.M)
    modules = {
        info.name
        for info in pkgutil.walk_packages(ddpm_tutorial.__path__, "ddpm_tutorial.")
        if not any(part.startswith("_") for part in info.name.split("."))
    }
    missing = sorted(modules - set(documented))
    assert not missing, f"modules without a section on book/appendices/api.md: {missing}"
    twice = sorted({m for m in documented if documented.count(m) > 1})
    assert not twice, f"modules documented twice: {twice}"
