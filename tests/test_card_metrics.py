"""tools/card_metrics.py: the measurements at each card's defaults go into the cards."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import card_metrics  # noqa: E402

ROW = {
    "model": "toy",
    "n": 500,
    "sampling": {"guidance_scale": 1.0},
    "fid": {"value": 7.0, "interval": [5.0, 8.0], "n": 500, "floor_at_n": {"mean": 3.0}},
    "seconds": 12.0,
    "seconds_per_100": 2.4,
}


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_a_row_lands_in_its_card_and_the_systems_extra_file_and_old_copies_become_pointers(
    tmp_path: Path,
) -> None:
    exp = {
        "experiment": "card-defaults",
        "rows": [ROW],
        "command": "python -m x",
        "torch_threads": 1,
    }
    table = _write(tmp_path / "data" / "experiments" / "card-defaults.json", exp)
    card = _write(
        tmp_path / "data" / "checkpoints" / "toy.json",
        {"sha256": "abc", "metrics": {"heldout_loss": 0.02, "part4_comparison": {"fid": 1.5}}},
    )
    extra = _write(tmp_path / "data" / "systems" / "toy.extra.json", {"metrics": {}})
    assert card_metrics.main([str(table), "--root", str(tmp_path)]) == 0
    written = json.loads(card.read_text())
    block = written["metrics"]["at_card_defaults"]
    assert block["fid"]["interval"] == [5.0, 8.0] and block["n"] == 500
    assert block["command"] == "python -m x" and "seconds" not in block
    assert written["sha256"] == "abc" and written["metrics"]["heldout_loss"] == 0.02
    assert written["metrics"]["part4_comparison"]["see"] == "data/experiments/part4-comparison.json"
    assert json.loads(extra.read_text())["metrics"]["at_card_defaults"] == block


def test_a_row_without_a_card_and_a_table_of_another_kind_fail_loudly(tmp_path: Path) -> None:
    exp = {"experiment": "card-defaults", "rows": [ROW], "command": "c"}
    table = _write(tmp_path / "t.json", exp)
    assert card_metrics.main([str(table), "--root", str(tmp_path)]) == 2
    other = _write(tmp_path / "o.json", {**exp, "experiment": "thresholding"})
    assert card_metrics.main([str(other), "--root", str(tmp_path)]) == 2
