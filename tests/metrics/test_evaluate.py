"""``evaluate``: FID with its interval, n and floor; KID; precision, recall, density, coverage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddpm_tutorial.cli import main
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.metrics.evaluate import evaluate_samples_file


@pytest.fixture(scope="module")
def real_file(tmp_path_factory):
    """150 training digits: real, and not in the held-out reference."""
    train = load_mnist("train", verbose=False)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:150]
    path = tmp_path_factory.mktemp("samples") / "real.npy"
    np.save(path, train.images[pick].numpy())
    return path


def test_real_digits_score_near_their_floor_with_high_fidelity_and_diversity(real_file):
    out = evaluate_samples_file(real_file, resamples=20, floor_draws=3)
    score, floor = out["fid_score"], out["fid_score"]["floor_at_n"]
    assert out["fid"] == pytest.approx(score["value"], abs=1e-3)
    assert score["n"] == 150 and floor["n"] == 150 and floor["draws"] == 3
    assert score["interval"][0] <= score["interval"][1]
    assert (
        score["features"] == "mnist-style-features"
        and "mnist-style-features" in out["fid_reference"]
    )
    assert out["fid"] < floor["mean"] + 5 * floor["sd"]
    assert abs(out["kid"]["kid"]) < 5 * out["kid"]["sd"] and out["kid"]["subset_size"] == 75
    assert out["precision"] > 0.7 and out["recall"] > 0.7
    assert out["coverage"] > 0.3  # 150 samples can reach only part of 1,000 real k-NN balls
    assert 0.5 < out["density"] < 1.5 and out["prdc_k"] == 5
    assert out["digit_classifier"]["confident_fraction"] > 0.8  # the judge still reports


def test_noise_scores_far_above_the_floor_with_no_fidelity(tmp_path):
    noise = torch.rand(60, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    np.save(tmp_path / "noise.npy", noise.numpy())
    out = evaluate_samples_file(tmp_path / "noise.npy", resamples=20, floor_draws=3)
    floor = out["fid_score"]["floor_at_n"]
    assert out["fid_score"]["interval"][0] > floor["mean"] + 10 * floor["sd"]
    assert out["precision"] == 0.0 and out["coverage"] == 0.0
    assert out["kid"]["kid"] > 10 * out["kid"]["sd"]


def test_a_handful_of_samples_still_gets_fid_and_a_note_instead_of_precision(tmp_path):
    np.save(tmp_path / "few.npy", load_mnist("train", verbose=False).images[:4].numpy())
    out = evaluate_samples_file(tmp_path / "few.npy", resamples=10, floor_draws=2)
    assert out["fid_score"]["n"] == 4 and "precision" not in out
    assert "k = 5" in out["prdc_note"]


def test_the_command_prints_every_number_and_memorisation_on_request(real_file, capsys):
    argv = ["evaluate", "--samples", str(real_file), "--resamples", "20", "--floor-draws", "3"]
    assert main([*argv, "--memorisation"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("fid", "fid_score", "kid", "precision", "recall", "density", "coverage"):
        assert key in out, key
    mem = out["memorisation"]
    assert mem["num_samples"] == 150 and mem["pixels"]["flagged_fraction"] <= 1.0
    # the samples *are* training digits: every one sits at distance 0 from the training set
    assert mem["pixels"]["flagged_fraction"] == 1.0
    assert main(["evaluate", "--samples", str(real_file), "--resamples", "3"]) == 2
    assert "--resamples must be >= 10" in capsys.readouterr().err
