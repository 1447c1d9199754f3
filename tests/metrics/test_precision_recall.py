"""Precision, recall, density, coverage: against a brute-force version, and on known cases."""

from __future__ import annotations

import importlib

import pytest
import torch

from ddpm_tutorial.metrics.precision_recall import (
    density_coverage,
    knn_radii,
    prdc,
    precision_recall,
)

# the package re-exports the function precision_recall, which hides the module's name
pr_module = importlib.import_module("ddpm_tutorial.metrics.precision_recall")


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def _brute(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    """The papers' definitions, one pair of points at a time."""

    def dist(a, b):
        return float((a - b).norm())

    def radius(points, i):
        return sorted(dist(points[i], p) for j, p in enumerate(points) if j != i)[k - 1]

    r_real = [radius(real, i) for i in range(len(real))]
    r_fake = [radius(fake, j) for j in range(len(fake))]
    inside = [[dist(x, y) <= r_real[i] for y in fake] for i, x in enumerate(real)]
    return {
        "precision": sum(any(inside[i][j] for i in range(len(real))) for j in range(len(fake)))
        / len(fake),
        "recall": sum(any(dist(x, y) <= r_fake[j] for j, y in enumerate(fake)) for x in real)
        / len(real),
        "density": sum(map(sum, inside)) / (k * len(fake)),
        "coverage": sum(any(row) for row in inside) / len(real),
    }


@pytest.mark.parametrize("k", [1, 3, 5])
def test_all_four_equal_a_brute_force_implementation(k):
    real, fake = _features(30, 3, 0), _features(25, 3, 1, shift=0.7)
    got = prdc(real, fake, k=k)
    expected = _brute(real, fake, k)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    assert precision_recall(real, fake, k=k) == {n: got[n] for n in ("precision", "recall")}
    assert density_coverage(real, fake, k=k) == {n: got[n] for n in ("density", "coverage")}


def test_identical_sets_have_full_precision_recall_coverage_and_density_k_plus_one_over_k():
    x = _features(60, 4, 0)
    out = prdc(x, x.clone(), k=5)
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    assert out["density"] == pytest.approx(6 / 5)  # each ball holds its centre and k neighbours


def test_disjoint_sets_score_zero_on_all_four():
    x = _features(40, 4, 0)
    out = prdc(x, x + 100.0, k=5)
    assert out["precision"] == out["recall"] == out["density"] == out["coverage"] == 0.0


def test_a_collapsed_set_keeps_precision_but_loses_coverage_and_recall():
    real, fresh = _features(200, 4, 0), _features(200, 4, 1)
    collapsed = fresh[:5].repeat(40, 1)  # 5 distinct points, each 40 times
    full, few = prdc(real, fresh), prdc(real, collapsed)
    assert few["precision"] >= 0.8 * full["precision"]
    assert few["coverage"] < 0.25 * full["coverage"]
    assert few["recall"] <= 5 / 200  # exact copies: every sample's k-NN radius is 0


def test_chunked_distances_give_the_same_answer(monkeypatch):
    real, fake = _features(50, 3, 0), _features(40, 3, 1, shift=0.3)
    whole = prdc(real, fake)
    monkeypatch.setattr(pr_module, "_CHUNK", 7)
    assert prdc(real, fake) == whole


def test_k_nn_radii_skip_the_point_itself_and_refuse_a_k_too_large():
    x = torch.tensor([[0.0], [1.0], [3.0]])
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="k = 3, N = 3"):
        knn_radii(x, 3)
    with pytest.raises(ValueError, match="more than k"):
        prdc(x, x[:2], k=2)
