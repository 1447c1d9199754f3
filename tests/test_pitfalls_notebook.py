"""The pitfalls clinic (book/appendices/pitfalls.ipynb) keeps its shape: every bug reproduced, then checked.

Executing the page is nbval's job (``pytest --nbval-lax``) and the book build's; these tests read
the notebook only, and catch what an execution would not: a misspelled ``raises-exception`` tag
(the expected error would then fail the build), a pitfall without its passing check, a summary
that lost a row.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

PATH = Path(__file__).resolve().parent.parent / "book" / "appendices" / "pitfalls.ipynb"
RAISES = "raises-exception"
NUM_PITFALLS = 9


@pytest.fixture(scope="module")
def nb() -> nbformat.NotebookNode:
    return nbformat.read(PATH, as_version=4)


def sections(nb: nbformat.NotebookNode) -> dict[int, list[nbformat.NotebookNode]]:
    """Cells of each '## Pitfall N' section, keyed by N."""
    out: dict[int, list[nbformat.NotebookNode]] = {}
    current = None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            match = re.match(r"## Pitfall (\d+)", cell.source)
            current = int(match.group(1)) if match else None
            if current is not None:
                out[current] = []
        if current is not None:
            out[current].append(cell)
    return out


def test_every_tag_that_looks_like_raises_exception_is_spelled_exactly(nb):
    for i, cell in enumerate(nb.cells):
        for tag in cell.metadata.get("tags", []):
            if re.sub(r"[^a-z]", "", tag.lower()).startswith("raise"):
                assert tag == RAISES, f"cell {i}: tag {tag!r} must be spelled {RAISES!r}"


def test_only_code_cells_carry_the_raises_exception_tag_and_each_is_a_short_reproduction(nb):
    tagged = [(i, c) for i, c in enumerate(nb.cells) if RAISES in c.metadata.get("tags", [])]
    assert len(tagged) >= 4, (
        f"expected the four raising bugs (1, 5, 8, 9); found {len(tagged)} tagged cells"
    )
    for i, cell in tagged:
        assert cell.cell_type == "code", f"cell {i} is tagged {RAISES!r} but is not code"
        lines = [line for line in cell.source.splitlines() if line.strip()]
        assert len(lines) <= 4, f"cell {i}: a raising cell should hold the failing lines alone"


def test_all_nine_pitfalls_are_there_in_order(nb):
    assert sorted(sections(nb)) == list(range(1, NUM_PITFALLS + 1))


@pytest.mark.parametrize("number", range(1, NUM_PITFALLS + 1))
def test_each_pitfall_shows_the_bug_then_a_fix_then_ends_with_a_passing_assert(nb, number):
    cells = sections(nb)[number]
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "**Symptom.**" in text and "**Fix.**" in text and "**Check.**" in text, (
        f"pitfall {number} lacks one of Symptom / Fix / Check"
    )
    code = [c for c in cells if c.cell_type == "code"]
    raises = [c for c in code if RAISES in c.metadata.get("tags", [])]
    documented = [
        c for c in code if "assert" in c.source and RAISES not in c.metadata.get("tags", [])
    ]
    assert raises or len(documented) >= 2, (
        f"pitfall {number} neither raises nor asserts its failure"
    )
    last = code[-1]
    assert RAISES not in last.metadata.get("tags", []), f"pitfall {number} ends with a raising cell"
    assert "assert" in last.source, f"pitfall {number} must end with a check cell that asserts"


def test_the_summary_table_has_one_row_per_pitfall(nb):
    summary = [
        c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Summary")
    ]
    assert summary, "the page ends with a summary"
    rows = [line for line in summary[0].source.splitlines() if re.match(r"\|\s*\d+\s*\|", line)]
    assert [int(r.split("|")[1]) for r in rows] == list(range(1, NUM_PITFALLS + 1))


def test_the_pretrained_model_is_loaded_by_name_and_files_go_to_a_temporary_directory(nb):
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'load_checkpoint("mnist-ddpm"' in source
    assert "TemporaryDirectory" in source and ".cleanup()" in source
    assert not re.search(r"/(tmp|work|root)/", source)


# The page's raising cells rest on PyTorch behaviour that could change with a new release; the
# tags let those cells fail without *requiring* them to fail, so the claims are checked here.
def test_a_schedule_of_t_steps_has_no_entry_t():
    import torch

    alpha_bar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 500), dim=0)
    with pytest.raises(IndexError):
        alpha_bar[500]


def test_indexing_with_the_papers_last_step_t_equal_to_T_raises():
    import torch

    from ddpm_tutorial.schedules import NoiseSchedule

    with pytest.raises(IndexError):
        NoiseSchedule.linear(1000).alpha_bars[torch.tensor([1, 500, 1000])]


def test_a_cpu_schedule_mixed_with_a_batch_on_another_device_raises():
    import torch

    from ddpm_tutorial.schedules import NoiseSchedule

    x0 = torch.zeros(2, 1, 28, 28, device="meta")
    t = torch.randint(0, 1000, (2,), device=x0.device)
    alpha_bar_t = NoiseSchedule.linear(1000).alpha_bars[t].reshape(-1, 1, 1, 1)
    with pytest.raises(RuntimeError):
        alpha_bar_t.sqrt() * x0


class _Payload:
    def __reduce__(self):
        return (print, ("this code ran while loading!",))


def test_torch_load_runs_a_pickled_payload_unless_weights_only(tmp_path, capsys):
    import pickle

    import torch

    path = tmp_path / "payload.pt"
    torch.save({"weight": torch.zeros(3), "extra": _Payload()}, path)
    torch.load(path, weights_only=False)
    assert capsys.readouterr().out.strip() == "this code ran while loading!"
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert capsys.readouterr().out == ""
