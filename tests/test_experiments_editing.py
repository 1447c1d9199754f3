"""The editing experiment: its three tables, their intervals and the command that wrote them."""

from __future__ import annotations

import json

import pytest
import torch

from ddpm_tutorial.cli import main
from ddpm_tutorial.experiments.editing import editing_experiment, heldout_digits
from ddpm_tutorial.experiments.generators import Protocol


@pytest.fixture(scope="module")
def tiny():
    return editing_experiment(
        ["mnist-ddpm", "mnist-flow"],
        inversion_steps=[2, 8],
        strengths=[0.0, 0.5, 1.0],
        steps=4,
        resamples=[1, 2],
        masks=["top"],
        fid_min_samples=6,
        protocol=Protocol(num_samples=6, seed=0, resamples=50),
    )


def test_held_out_digits_are_a_seeded_subset_with_their_labels():
    x, labels = heldout_digits(5, seed=1)
    again, _ = heldout_digits(5, seed=1)
    assert x.shape == (5, 1, 28, 28) and labels.shape == (5,) and torch.equal(x, again)
    assert not torch.equal(x, heldout_digits(5, seed=2)[0])


def test_every_table_has_a_row_per_checkpoint_and_setting(tiny):
    assert [(r["checkpoint"], r["steps"]) for r in tiny["inversion"]] == [
        ("mnist-ddpm", 2),
        ("mnist-ddpm", 8),
        ("mnist-flow", 2),
        ("mnist-flow", 8),
    ]
    assert [r["sampler"] for r in tiny["sdedit"]] == ["ddim"] * 3 + ["euler"] * 3
    assert [(r["kept_half"], r["resample"], r["network_calls"]) for r in tiny["inpainting"]] == [
        ("top", 1, 4),
        ("top", 2, 7),
    ] * 2
    assert tiny["num_images"] == 6 and tiny["seed"] == 0


def test_every_measure_has_a_bootstrap_interval_around_its_value(tiny):
    rows = [
        *(r["rmse"] for r in tiny["inversion"]),
        *(r[k] for r in tiny["sdedit"] for k in ("rmse_to_input", "kept_digit", "confident")),
        *(r[k] for r in tiny["inpainting"] for k in ("kept_digit", "rmse_generated")),
    ]
    for m in rows:
        low, high = m["interval"]
        assert low <= m["value"] <= high and m["n"] == 6
        assert m["interval_method"] == "percentile bootstrap over the images"


def test_strength_zero_is_the_input_and_strength_one_forgets_it(tiny):
    by_strength = {(r["checkpoint"], r["strength"]): r for r in tiny["sdedit"]}
    for name in ("mnist-ddpm", "mnist-flow"):
        zero, one = by_strength[(name, 0.0)], by_strength[(name, 1.0)]
        assert zero["rmse_to_input"]["value"] == 0.0 and zero["network_calls"] == 0
        assert zero["kept_digit"] == tiny["inputs"]["kept_digit"]
        assert one["rmse_to_input"]["value"] > 0.3 and one["network_calls"] == 4
        assert one["fid"]["n"] == 6 and "floor_at_n" in one["fid"]


def test_the_command_writes_the_json_with_its_command_line(tmp_path, capsys):
    out = tmp_path / "editing.json"
    argv = ["experiment", "editing", "--checkpoints", "mnist-flow", "--num-samples", "6"]
    argv += ["--inversion-steps", "2", "--strengths", "0.5", "--resample-counts", "1"]
    argv += ["--steps", "2", "--resamples", "20", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["command"].startswith("python -m ddpm_tutorial experiment editing")
    assert result["checkpoints"] == ["mnist-flow"] and len(result["inversion"]) == 1
    assert result["sdedit"][0]["fid"] is None  # n = 6 is below the FID's minimum of 100
    capsys.readouterr()
