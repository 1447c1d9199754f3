"""Every measure of a sample set, with its n, its floor at n and an interval (experiments.scoring)."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.data.captions import prompt_digit
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.experiments.scoring import (
    heldout_pairs,
    heldout_prompts,
    mean_interval,
    prdc_intervals,
    score_samples,
    wilson_interval,
)
from ddpm_tutorial.metrics.classifier import load_digit_classifier, predict_proba
from ddpm_tutorial.metrics.precision_recall import prdc


def test_heldout_prompts_are_fixed_captions_that_name_a_digit():
    a, b = heldout_prompts(20), heldout_prompts(20)
    assert a == b and len(set(a)) > 5
    assert all(prompt_digit(p) is not None for p in a)
    assert heldout_prompts(20, seed=1) != a
    assert heldout_prompts(30)[:20] == a  # a larger n extends the same prompts
    with pytest.raises(ValueError, match="num_prompts"):
        heldout_prompts(0)


def test_heldout_pairs_give_each_caption_the_digit_it_describes():
    images, prompts = heldout_pairs(50)
    read = predict_proba(load_digit_classifier(), images).argmax(1).tolist()
    agree = sum(prompt_digit(p) == d for p, d in zip(prompts, read))
    assert images.shape == (50, 1, 28, 28) and agree >= 48


def test_the_wilson_interval_matches_the_formula_at_known_points():
    low, high = wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    wide, narrow = wilson_interval(90, 100), wilson_interval(900, 1000)
    assert wide[0] < narrow[0] < 0.9 < narrow[1] < wide[1]
    with pytest.raises(ValueError, match="hits=11, n=10"):
        wilson_interval(11, 10)


def test_the_mean_interval_is_1_96_standard_errors_wide():
    values = torch.arange(100, dtype=torch.float64)
    out = mean_interval(values)
    half = 1.96 * float(values.std()) / 10
    assert out["value"] == pytest.approx(49.5)
    assert out["interval"] == [
        pytest.approx(49.5 - half, abs=1e-3),
        pytest.approx(49.5 + half, abs=1e-3),
    ]


def test_prdc_intervals_give_the_metrics_values_inside_their_intervals():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 8, generator=g), torch.randn(200, 8, generator=g) + 0.3
    plain = prdc(real, fake, k=5)
    rows = prdc_intervals(real, fake, k=5, resamples=100)
    for name in ("precision", "recall", "density", "coverage"):
        low, high = rows[name]["interval"]
        assert rows[name]["value"] == pytest.approx(plain[name], abs=1e-4)
        assert low <= rows[name]["value"] <= high and rows[name]["n"] == 200


@pytest.fixture(scope="module")
def real_and_noise():
    images, prompts = heldout_pairs(200)
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return (
        score_samples(images, prompts, real=images, resamples=50),
        score_samples(noise, prompts, real=images, resamples=50),
    )


def test_every_measure_states_its_n_and_interval_and_what_real_digits_score(real_and_noise):
    good, _ = real_and_noise
    assert good["n"] == 200
    assert good["fid"]["floor_at_n"]["n"] == 200 and good["kid"]["floor_at_n"]["n"] == 200
    for name in ("fid", "kid", "precision", "recall", "density", "coverage", "clip_score"):
        assert good[name]["n"] == 200 and len(good[name]["interval"]) == 2, name
    for name in ("precision", "recall", "density", "coverage"):
        assert good[name]["real_at_n"]["draws"] >= 3
    acc = good["prompted_digit_accuracy"]
    assert acc["interval"][0] <= acc["value"] <= acc["interval"][1]
    assert acc["real"] == acc["value"]  # the samples are the real digits themselves


def test_real_digits_with_their_own_captions_beat_noise_on_every_measure(real_and_noise):
    good, noise = real_and_noise
    assert good["fid"]["value"] < 0.1 * noise["fid"]["value"]
    assert good["kid"]["value"] < noise["kid"]["value"]
    for name in ("precision", "recall", "coverage"):
        assert good[name]["interval"][0] > noise[name]["interval"][1], name
    assert good["clip_score"]["value"] > noise["clip_score"]["value"] + 20
    assert good["prompted_digit_accuracy"]["value"] > 0.95
    assert noise["pixels"]["outside_unit_range"] == 0 == good["pixels"]["beyond_1_5"]


def test_memorisation_flags_training_digits_replayed_as_samples():
    train = load_mnist("train", verbose=False).images[:50]
    out = score_samples(train, resamples=20, memorise=True, extra_fid_features=("mnist-features",))
    assert out["memorisation"]["pixels"]["flagged_fraction"] == 1.0
    assert out["fid_mnist-features"]["features"] == "mnist-features"
    assert "clip_score" not in out and out["digit_classifier"]["confident_fraction"]["n"] == 50


def test_scoring_refuses_too_few_samples_or_a_prompt_count_that_differs():
    x = torch.zeros(5, 1, 28, 28)
    with pytest.raises(ValueError, match="more than k = 5"):
        score_samples(x)
    with pytest.raises(ValueError, match="3 prompts for 8 samples"):
        score_samples(torch.zeros(8, 1, 28, 28), ["a 1"] * 3)
