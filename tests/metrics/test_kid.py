"""KID: the unbiased MMD² against a brute-force double loop, and its behaviour on known cases."""

from __future__ import annotations

import importlib
import itertools

import pytest
import torch

from ddpm_tutorial.metrics.kid import kid, mmd2_unbiased, polynomial_kernel

# the package re-exports the function kid, which hides the module of the same name
kid_module = importlib.import_module("ddpm_tutorial.metrics.kid")


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def _brute_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Binkowski et al.'s estimator written out term by term, one kernel value at a time."""

    def k(a, b):
        return float((a @ b / a.numel() + 1) ** 3)

    m = len(x)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_the_estimate_equals_a_brute_force_double_loop():
    x, y = _features(25, 4, 0), _features(25, 4, 1, shift=0.5)
    assert float(mmd2_unbiased(x, y)) == pytest.approx(_brute_mmd2(x, y), rel=1e-12)
    # subsets as large as the sets are permutations of them: every subset gives the same value
    out = kid(x, y, num_subsets=3, subset_size=100)
    assert out["subset_size"] == 25 and out["sd"] < 1e-12
    assert out["kid"] == pytest.approx(_brute_mmd2(x, y), rel=1e-12)


def test_the_kernel_is_the_cubic_polynomial_of_the_paper():
    a, b = _features(3, 5, 0), _features(4, 5, 1)
    expected = torch.tensor(
        [[(float(p @ q) / 5 + 1) ** 3 for q in b] for p in a], dtype=torch.float64
    )
    assert torch.allclose(polynomial_kernel(a, b), expected, rtol=1e-12)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    null = torch.tensor(
        [
            kid(_features(40, 4, 2 * s), _features(40, 4, 2 * s + 1), num_subsets=1)["kid"]
            for s in range(300)
        ]
    )
    standard_error = float(null.std()) / len(null) ** 0.5
    assert float(null.min()) < 0 < float(null.max())  # an unbiased estimate of 0 scatters
    assert abs(float(null.mean())) < 3 * standard_error
    shifted = kid(_features(40, 4, 0), _features(40, 4, 1, shift=0.5), num_subsets=1)["kid"]
    assert shifted > float(null.mean()) + 3 * float(null.std())


def test_precomputed_kernels_and_per_subset_kernels_give_the_same_kid(monkeypatch):
    x, y = _features(80, 6, 0), _features(70, 6, 1, shift=0.3)
    fast = kid(x, y, num_subsets=5, subset_size=30, seed=3)
    monkeypatch.setattr(kid_module, "_PRECOMPUTE_MAX", 10)  # force the per-subset path
    slow = kid(x, y, num_subsets=5, subset_size=30, seed=3)
    assert fast["kid"] == pytest.approx(slow["kid"], rel=1e-10)
    assert fast["sd"] == pytest.approx(slow["sd"], rel=1e-8)


def test_kid_refuses_mismatched_or_tiny_feature_sets():
    with pytest.raises(ValueError, match="same D"):
        kid(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="at least 2"):
        kid(torch.zeros(1, 3), torch.zeros(5, 3))
