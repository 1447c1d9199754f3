"""Simulate a reader who opens a chapter in Colab.

A fresh virtual environment; the chapter's own install cell, with the repository URL pointed at
this checkout (cloned through git, so only committed files count) and /content at a temporary
folder; `google.colab` present in ``sys.modules``; the whole chapter executed. Slow (it installs
torch into the new environment): run by ``make colab-check``, part of ``make test``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402

pytestmark = pytest.mark.skipif(
    not os.environ.get("DDPM_TUTORIAL_COLAB_CHECK"),
    reason="set DDPM_TUTORIAL_COLAB_CHECK=1 (make colab-check)",
)

CHAPTER = ROOT / "book" / "part1" / "reverse_process.ipynb"


def test_a_chapter_runs_in_a_fresh_environment_through_its_own_install_cell(tmp_path):
    url, branch = colab_cell.repository(ROOT)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # What Colab has before the install cell runs: a Jupyter kernel and nbclient to drive it.
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "ipykernel", "nbclient", "nbformat"], check=True
    )

    nb = nbformat.read(CHAPTER, as_version=4)
    cell = colab_cell.first_code_cell(nb)
    content = tmp_path / "content"
    content.mkdir()
    cell.source = (
        "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
        + cell.source.replace(url, f"file://{ROOT}").replace("/content", str(content))
    )
    assert f"file://{ROOT}" in cell.source and f"--branch {branch}" in cell.source
    notebook = tmp_path / "chapter.ipynb"
    nbformat.write(nb, notebook)
    runner = (
        "import nbformat, nbclient, sys\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute()\n"
        "print('executed', sum(c.cell_type == 'code' for c in nb.cells), 'code cells')\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "DDPM_TUTORIAL_DATA"))
    }
    env.update(
        PATH=f"{env_dir / 'bin'}:{env['PATH']}",
        DDPM_TUTORIAL_PROFILE="smoke",
        DDPM_TUTORIAL_OFFLINE="1",
    )
    result = subprocess.run(
        [python, "-c", runner, str(notebook)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    installed = subprocess.run(
        [python, "-c", "import ddpm_tutorial, sys; print(ddpm_tutorial.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert str(env_dir) in installed.stdout, "the package must come from the fresh environment"
