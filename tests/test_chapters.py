"""Every chapter can run where a reader runs it: Colab install cell, metadata, no machine paths."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402

CHAPTERS = colab_cell.chapters(ROOT)
IDS = [str(p.relative_to(ROOT)) for p in CHAPTERS]


def test_the_table_of_contents_lists_chapters_that_exist():
    assert len(CHAPTERS) >= 6, f"only {len(CHAPTERS)} chapters found in _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_first_code_cell_is_the_colab_install_cell_rendered_from_the_config(path):
    nb = nbformat.read(path, as_version=4)
    cell = colab_cell.first_code_cell(nb)
    assert cell is not None, f"{path.name} has no code cell"
    missing = [t for t in colab_cell.TAGS if t not in cell.metadata.get("tags", [])]
    assert not missing, (
        f"{path.name}: the install cell lacks the tags {missing} (remove-cell keeps it out of "
        "the HTML); run python tools/colab_cell.py --write"
    )
    assert cell.source == colab_cell.install_cell_source(ROOT), (
        f"{path.name}: install cell differs from _config.yml; run python tools/colab_cell.py --write"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_install_cell_installs_the_package_alone_and_pins_neither_torch_nor_numpy(path):
    cell = colab_cell.first_code_cell(nbformat.read(path, as_version=4))
    pip_lines = [line for line in cell.source.splitlines() if "pip install" in line]
    assert pip_lines, "the install cell must pip install the package"
    for line in pip_lines:
        assert not re.search(r"\b(torch|numpy)\b", line), (
            f"{path.name} installs torch or numpy: {line!r}"
        )


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_second_code_cell_prints_the_profile_banner_and_picks_the_device(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 2
    source = code[1].source
    assert "print_banner" in source, (
        f"{path.name}: the second code cell must print the profile banner"
    )
    assert "default_device" in source or "DEVICE" in source, (
        f"{path.name}: the chapter must choose its device"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_chapter_is_committed_without_outputs_and_with_a_python_kernel(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not with_outputs, f"{path.name}: cells {with_outputs} have stored outputs (clear them)"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_chapter_has_no_path_hacks_or_machine_paths(path):
    text = path.read_text()
    for pattern in (r"sys\.path\.(append|insert)", r"os\.chdir", r"/work/", r"/tmp/", r"/root/"):
        assert not re.search(pattern, text), f"{path.name} contains {pattern}"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_chapter_wanting_a_gpu_says_so_in_its_metadata(path):
    nb = nbformat.read(path, as_version=4)
    colab = nb.metadata.get("colab", {})
    if nb.metadata.get("ddpm_tutorial", {}).get("wants_gpu"):
        assert nb.metadata.get("accelerator") == "GPU" or colab.get("gpuType"), (
            f"{path.name} wants a GPU but its metadata does not ask Colab for one"
        )
    json.dumps(nb.metadata)  # metadata must stay JSON


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_animations_use_the_offline_player(path):
    assert ".to_jshtml(" not in path.read_text(), (
        f"{path.name}: use ddpm_tutorial.plotting.jshtml(anim), which drops matplotlib's CDN stylesheet"
    )
