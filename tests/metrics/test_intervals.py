"""n, the floor at n and the bootstrap interval: what each interval covers, and ranking."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.metrics.fid import frechet_distance, gaussian_statistics
from ddpm_tutorial.metrics.intervals import (
    Floor,
    Score,
    compare_scores,
    fid_bootstrap,
    floor_from_features,
    score_fid,
)

D = 32
REFERENCE = (torch.zeros(D, dtype=torch.float64), torch.eye(D, dtype=torch.float64))
SHIFT = torch.zeros(D, dtype=torch.float64)
SHIFT[0] = 1.0  # samples ~ N(SHIFT, I) against N(0, I): the population FID is exactly 1


def _samples(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(n, D, generator=g, dtype=torch.float64) + SHIFT


def test_the_basic_interval_covers_the_population_fid_and_the_shifted_one_the_fid_at_n():
    n, reps = 200, 30
    g = torch.Generator().manual_seed(0)
    mean_at_n = (
        sum(frechet_distance(*gaussian_statistics(_samples(n, g)), *REFERENCE) for _ in range(reps))
        / reps
    )
    assert mean_at_n > 2.0  # FID at n = 200 in 32-d is biased well above the population's 1
    hits = {"basic": [0, 0], "shifted-percentile": [0, 0]}
    for r in range(reps):
        x = _samples(n, g)
        for method, count in hits.items():
            b = fid_bootstrap(x, REFERENCE, resamples=50, method=method, seed=r)
            count[0] += b["low"] <= 1.0 <= b["high"]
            count[1] += b["low"] <= mean_at_n <= b["high"]
            assert b["bias"] > 0  # resampling with replacement inflates FID
    assert hits["basic"][0] >= 0.8 * reps and hits["basic"][1] <= 0.2 * reps
    assert hits["shifted-percentile"][1] >= 0.8 * reps
    assert hits["shifted-percentile"][0] <= 0.2 * reps


def test_the_bootstrap_refuses_unknown_methods_and_levels():
    x = _samples(20, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="'percentile'"):
        fid_bootstrap(x, REFERENCE, method="percentile")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="got 95"):
        fid_bootstrap(x, REFERENCE, level=95)


def test_the_floor_is_the_spread_of_real_vs_real_fid_over_draws():
    g = torch.Generator().manual_seed(1)
    pool = torch.randn(2000, D, generator=g, dtype=torch.float64)
    labels = torch.arange(2000) % 10
    floor = floor_from_features(pool, labels, REFERENCE, 200, draws=8)
    again = floor_from_features(pool, labels, REFERENCE, 200, draws=8)
    assert floor == again and len(floor.values) == 8
    assert 0 < floor.sd < floor.mean and floor.upper == pytest.approx(floor.mean + 2 * floor.sd)
    bigger = floor_from_features(pool, labels, REFERENCE, 800, draws=8)
    assert bigger.mean < floor.mean  # the floor falls as n grows
    stratified = floor_from_features(pool, labels, REFERENCE, 200, draws=3, stratified=True)
    assert stratified.stratified and stratified.as_dict()["n"] == 200
    with pytest.raises(ValueError, match="got 3000"):
        floor_from_features(pool, labels, REFERENCE, 3000)


def _score(value: float, low: float, high: float, n: int = 100) -> Score:
    return Score(value, low, high, n, None)


def test_scores_rank_when_their_intervals_separate_and_tie_when_they_overlap():
    good, bad, close = _score(2.0, 1.5, 2.5), _score(6.0, 5.0, 7.0), _score(2.8, 2.4, 3.2)
    assert compare_scores(good, bad) == -1 and compare_scores(bad, good) == 1
    assert compare_scores(good, close) == 0
    with pytest.raises(ValueError, match="same n"):
        compare_scores(good, _score(2.0, 1.5, 2.5, n=200))


def test_a_score_of_real_digits_sits_near_its_floor_and_ranks_above_noise():
    train = load_mnist("train", verbose=False).images
    real = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(5))[:200]]
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    real_score = score_fid(real, resamples=30, floor_draws=5)
    noise_score = score_fid(noise, resamples=30, floor_draws=5)
    assert isinstance(real_score.floor, Floor) and real_score.floor.n == 200
    assert real_score.value < real_score.floor.mean + 4 * real_score.floor.sd
    assert compare_scores(real_score, noise_score) == -1
    d = real_score.as_dict()
    assert d["n"] == 200 and d["interval"][0] <= d["interval"][1]
    assert d["interval_method"] == "basic" and d["floor_at_n"]["draws"] == 5
