"""Every docstring renders in the API reference: no reST errors or warnings.

The book builds with ``--warningiserror``, and a docstring that reST misreads (``|x|`` is a
substitution, an unindented line ends a definition list) fails the whole build. This test
renders each docstring the way the API page does (napoleon, then docutils) in a second.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil

import pytest

import ddpm_tutorial

docutils_core = pytest.importorskip("docutils.core", reason="the book extra is not installed")
napoleon = pytest.importorskip(
    "sphinx.ext.napoleon.docstring", reason="the book extra is not installed"
)
Config = pytest.importorskip("sphinx.ext.napoleon").Config

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(ddpm_tutorial.__path__, prefix="ddpm_tutorial.")
    if m.name != "ddpm_tutorial.__main__"  # importing it runs the command line
)
# Sphinx roles and directives (:func:, .. math::) are unknown to plain docutils: not errors here.
SPHINX_ONLY = (
    "Unknown interpreted text role",
    "Unknown directive",
    "No role entry",
    "No directive entry",
    'Trying "',
)


def _problems(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    objects = [("module", module)] + [
        (name, obj)
        for name, obj in vars(module).items()
        if (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", "") == module_name
    ]
    found = []
    for name, obj in objects:
        doc = inspect.getdoc(obj)
        if not doc:
            continue
        stream = io.StringIO()
        docutils_core.publish_doctree(
            str(napoleon.GoogleDocstring(doc, Config(napoleon_use_param=True))),
            settings_overrides={"warning_stream": stream, "report_level": 2},
        )
        found += [
            f"{name}: {line}"
            for line in stream.getvalue().splitlines()
            if ("ERROR" in line or "WARNING" in line) and not any(s in line for s in SPHINX_ONLY)
        ]
    return found


@pytest.mark.parametrize("module_name", MODULES)
def test_docstrings_render_without_rest_errors(module_name):
    assert _problems(module_name) == []
