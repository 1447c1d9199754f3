"""FID: the Fréchet distance against closed forms, the corruptions, and the shipped features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.metrics.fid import (
    extract_features,
    fid,
    fid_from_features,
    frechet_distance,
    gaussian_statistics,
    reference_statistics,
)
from ddpm_tutorial.metrics.validation import CORRUPTIONS, corrupt_images, fid_validation


def _random_psd(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def _sqrtm_numpy(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eig(m)  # general (non-symmetric) square root, independent of eigh
    return (vecs * np.sqrt(vals.astype(complex))) @ np.linalg.inv(vecs)


def test_identical_gaussians_are_at_distance_zero():
    s = _random_psd(6, 0)
    mu = torch.arange(6.0)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-8)


def test_diagonal_gaussians_match_the_closed_form():
    # for diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    v1, v2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([4.0, 1.0, 1.0])
    expected = float((mu1 - mu2).square().sum() + (v1.sqrt() - v2.sqrt()).square().sum())
    got = frechet_distance(mu1, torch.diag(v1), mu2, torch.diag(v2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_general_covariances_match_a_numpy_matrix_square_root():
    s1, s2 = _random_psd(5, 1), _random_psd(5, 2)
    mu1, mu2 = torch.zeros(5), torch.ones(5)
    covmean = _sqrtm_numpy(s1.numpy() @ s2.numpy()).real
    expected = 5.0 + np.trace(s1.numpy() + s2.numpy() - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1))


def test_statistics_and_shape_errors():
    f = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    mu, sigma = gaussian_statistics(f)
    assert torch.allclose(sigma, torch.from_numpy(np.cov(f.numpy().T)), atol=1e-6)
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_statistics(torch.randn(1, 3))
    with pytest.raises(ValueError, match="sigma2"):
        frechet_distance(mu, sigma, mu, torch.eye(4))


def test_corruptions_keep_shape_and_grow_with_strength():
    x = load_mnist("test", verbose=False).images[:8]
    g = torch.Generator().manual_seed(0)
    for kind in CORRUPTIONS:
        assert torch.equal(corrupt_images(x, kind, 0.0), x)
        weak, strong = (
            corrupt_images(x, kind, s, g)
            for s in (0.1 if kind != "blur" else 0.5, 0.4 if kind != "blur" else 2.0)
        )
        assert weak.shape == x.shape
        assert (weak - x).abs().mean() < (strong - x).abs().mean()
    blurred = corrupt_images(x, "blur", 1.0)
    assert blurred.min() >= -1 - 1e-5 and blurred.max() <= 1 + 1e-5
    # shuffling moves pixels but keeps every image's histogram
    shuffled = corrupt_images(x, "shuffle", 0.5, g)
    assert torch.equal(shuffled.flatten(1).sort(1).values, x.flatten(1).sort(1).values)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt_images(x, "jpeg", 1.0)
    with pytest.raises(ValueError, match="fraction"):
        corrupt_images(x, "shuffle", 2.0)


def test_extract_features_rejects_bad_images():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        extract_features(torch.zeros(2, 1, 14, 14), lambda x: x.flatten(1))
    with pytest.raises(ValueError, match="NaN"):
        extract_features(torch.full((2, 1, 28, 28), float("nan")), lambda x: x.flatten(1))


def test_shipped_features_validate_fid():
    """Real digits score near zero; each corruption scores worse, monotonically."""
    train = load_mnist("train", verbose=False).images
    test = load_mnist("test", verbose=False).images
    report = fid_validation(
        "mnist-features",
        train,
        test,
        num_images=500,
        strengths={"blur": (0.5, 1.5), "noise": (0.1, 0.4), "shuffle": (0.05, 0.2)},
    )
    assert report["monotonic"] is True
    assert report["real"] < 2.0  # near zero: the finite-sample floor at 500 images
    for kind, strong in (("blur", "1.5"), ("noise", "0.4"), ("shuffle", "0.2")):
        assert report[kind][strong] > 10 * report["real"]


def test_fid_of_real_digits_against_the_reference_split():
    test = load_mnist("test", verbose=False).images
    train = load_mnist("train", verbose=False).images
    mu, sigma, n = reference_statistics()  # the default features: mnist-style-features
    assert n == test.shape[0] and mu.shape == (160,) and sigma.shape == (160, 160)
    assert reference_statistics("mnist-features")[0].shape == (64,)  # the book's first
    real = fid(train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:500]])
    noise = fid(torch.rand(500, 1, 28, 28) * 2 - 1)
    assert real < 0.05 * noise
    half = test[torch.randperm(len(test), generator=torch.Generator().manual_seed(1))]
    a, b = half[:500], half[500:]  # two random halves (the offline split is sorted by class)
    assert fid(a, reference=b) < 0.2 * fid(corrupt_images(a, "blur", 1.5), reference=b)
