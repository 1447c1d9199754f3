"""Fixtures for the real-browser checks of the built book (tools/check_html.py).

These tests are not unit tests: they need the built HTML (``jupyter-book build``) and a
Chromium binary (Debian: ``apt-get install chromium``). They run when asked for, with
``pytest tests/book`` (``make browser-check``) or ``DDPM_TUTORIAL_REQUIRE_BOOK=1``, and are
skipped in a plain ``pytest`` run of the unit tests.

With ``DDPM_TUTORIAL_REQUIRE_BOOK=1`` a missing book or a missing Chromium fails the tests
instead of skipping them. ``DDPM_TUTORIAL_BOOK_HTML`` points at another build folder
(default: ``_build/html`` in the repository root).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REQUIRE_BOOK = os.environ.get("DDPM_TUTORIAL_REQUIRE_BOOK") == "1"


def unavailable(reason: str) -> None:
    """Fail when the book is required (CI), skip otherwise."""
    if REQUIRE_BOOK:
        pytest.fail(f"{reason} (DDPM_TUTORIAL_REQUIRE_BOOK=1)", pytrace=False)
    pytest.skip(reason)


def _named_on_command_line(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(str(arg).split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REQUIRE_BOOK or _named_on_command_line(config):
        return
    skip = pytest.mark.skip(
        reason="browser checks of the built book run with `pytest tests/book` (make browser-check)"
    )
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def check_html() -> ModuleType:
    """tools/check_html.py, imported from its path (tools/ is not a package)."""
    path = REPO_ROOT / "tools" / "check_html.py"
    spec = importlib.util.spec_from_file_location("check_html", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_html"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def chromium(check_html: ModuleType) -> str:
    binary = check_html.find_chromium(None)
    if binary is None:
        unavailable("Chromium not found: apt-get install chromium, or set CHROMIUM=/path/to/chrome")
    return binary


@pytest.fixture(scope="session")
def html_dir() -> Path:
    path = Path(os.environ.get("DDPM_TUTORIAL_BOOK_HTML", REPO_ROOT / "_build" / "html"))
    if not (path / "index.html").is_file():
        unavailable(f"no built book at {path}: build it first (jupyter-book build --all .)")
    return path


@pytest.fixture(scope="session")
def screenshot_path(html_dir: Path) -> Path:
    return html_dir.parent / "screenshots" / "first-chapter.png"


@pytest.fixture(scope="session")
def book_check(check_html: ModuleType, chromium: str, html_dir: Path, screenshot_path: Path):
    """Every page of the book opened once in Chromium: (reports, notes)."""
    if screenshot_path.exists():
        screenshot_path.unlink()
    return check_html.run(html_dir, screenshot_path, chromium, timeout=60.0)
