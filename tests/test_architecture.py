"""The package's imports point down its layers, with no circle (tools/check_layers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_layers  # noqa: E402


def test_every_import_points_down_the_layers_and_none_forms_a_circle():
    problems = check_layers.check(ROOT / "ddpm_tutorial")
    assert not problems, "\n".join(problems)


def test_every_top_level_name_of_the_package_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in (ROOT / "ddpm_tutorial").iterdir()}
    names -= {"__init__", "__pycache__"}
    for name in sorted(names):
        check_layers.layer_of(name)  # raises KeyError for a module no row names


def test_the_check_sees_an_upward_import_and_a_circle(tmp_path):
    package = tmp_path / "ddpm_tutorial"
    (package / "models").mkdir(parents=True)
    (package / "cli").mkdir()
    (package / "__init__.py").write_text("")
    (package / "models" / "__init__.py").write_text("from ..cli import main\n")
    (package / "cli" / "__init__.py").write_text(
        "from ..models import UNet\n\ndef main():\n    from ..schedules import x\n"
    )
    (package / "schedules.py").write_text("")
    problems = "\n".join(check_layers.check(package))
    assert "a layer below it" in problems
    assert "import circle" in problems
    assert "inside a function" in problems
