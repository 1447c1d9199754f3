r"""n, the floor at n, and an interval: how to report an FID that a reader can trust.

An FID means little alone. It grows as the number of samples n shrinks (the estimate is
biased upwards), it is not 0 even for real digits, and it moves from one sample set to the
next. So every FID the book reports comes with three more numbers:

* **n**, the number of samples it was computed from;
* **the floor at n** (:func:`real_floor`): the FID of n *real* training digits against the
  same held-out reference, over several random draws (mean and sd). A model cannot be told
  apart from real digits by this FID unless it scores clearly above the floor;
* **an interval** (:func:`fid_bootstrap`): a 95% bootstrap interval from resampling the
  sample set.

:func:`score_fid` puts them together as a :class:`Score`; :func:`compare_scores` says whether
two scores' intervals separate (one ranks above the other) or overlap (a tie).

**Which bootstrap.** Resampling n features with replacement leaves about 63% distinct points,
and FID's upward small-sample bias grows, so the bootstrap FIDs :math:`\theta^*_b` sit above the
point estimate :math:`\hat\theta`: the plain percentile interval
:math:`[q_{\alpha/2}, q_{1-\alpha/2}]` of the :math:`\theta^*_b` often excludes
:math:`\hat\theta`. This module uses the **basic (pivotal) bootstrap** interval, which
treats :math:`\hat\theta - \theta` as distributed like :math:`\theta^* - \hat\theta`:

.. math::

    \bigl[\,2\hat\theta - q_{1-\alpha/2},\; 2\hat\theta - q_{\alpha/2}\,\bigr],

clipped at 0. It corrects for the bias the bootstrap sees, so it is an interval for the
*population* FID (n -> infinity) with the small-sample bias removed, and it usually lies below
:math:`\hat\theta` (by about the bootstrap bias :math:`b = \bar\theta^* - \hat\theta`,
reported as ``bias``). Removing the bias matters when two models are ranked: Chong & Forsyth
(2020) show that FID's bias depends on the model being evaluated. The research prototype
shifted the percentile interval down by the bias instead,
:math:`[q_{\alpha/2} - b,\ q_{1-\alpha/2} - b]`: an interval around
:math:`\hat\theta`, for the FID that another sample set of the same n would score, the
quantity the floor at n is in (``method="shifted-percentile"``). The tests check both on
Gaussians with a known population FID: the basic interval covers the population FID, the
shifted one covers the mean FID at n. On real digits the bootstrap's spread was wider than the
spread over independent sample sets (conservative): for comparing settings of one model,
independent seeds are the honest interval, and :func:`compare_scores` works on either.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from ..data.mnist import load_mnist
from .corruptions import stratified_indices
from .fid import (
    DEFAULT_FEATURES,
    extract_features,
    frechet_distance,
    gaussian_statistics,
    real_features,
    reference_statistics,
)

__all__ = [
    "Floor",
    "Score",
    "compare_scores",
    "fid_bootstrap",
    "floor_from_features",
    "real_floor",
    "score_fid",
]

IntervalMethod = Literal["basic", "shifted-percentile"]


@dataclass(frozen=True)
class Floor:
    """The real-vs-real FID at n: its mean and sd over ``draws`` random draws of real digits."""

    n: int
    mean: float
    sd: float
    draws: int
    stratified: bool
    values: tuple[float, ...] = field(repr=False)

    @property
    def upper(self) -> float:
        """mean + 2 sd: a score above it is clearly not real-vs-real noise."""
        return self.mean + 2 * self.sd

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: n, mean, sd, draws, stratified, upper."""
        return {
            "n": self.n,
            "mean": round(self.mean, 4),
            "sd": round(self.sd, 4),
            "draws": self.draws,
            "stratified": self.stratified,
            "upper": round(self.upper, 4),
        }


def floor_from_features(
    pool: Tensor,
    pool_labels: Tensor,
    reference: tuple[Tensor, Tensor],
    n: int,
    *,
    draws: int = 25,
    stratified: bool = False,
    seed: int = 0,
) -> Floor:
    """Real-vs-real FID floor at n from precomputed features.

    Args:
        pool: features (P, D) of real digits that are not in the reference (the training split).
        pool_labels: (P,) their digits, used when ``stratified``.
        reference: (mu (D,), sigma (D, D)) of the reference (the held-out split).
        n: digits per draw, without replacement.
        draws: how many draws.
        stratified: draw n/10 digits per class (the null of a class-balanced sampler) instead
            of n at random (the null of an unconditional sampler, whose class counts vary).
        seed: seeds the draws.

    Returns:
        A :class:`Floor`.
    """
    if not 2 <= n <= pool.shape[0]:
        raise ValueError(f"n must lie in [2, {pool.shape[0]}] (the pool's size); got {n}")
    if draws < 2:
        raise ValueError(f"the floor needs at least 2 draws for its sd; got {draws}")
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(draws):
        if stratified:
            idx = stratified_indices(pool_labels, n, g)
        else:
            idx = torch.randperm(pool.shape[0], generator=g)[:n]
        values.append(frechet_distance(*gaussian_statistics(pool[idx]), *reference))
    v = torch.tensor(values, dtype=torch.float64)
    return Floor(n, float(v.mean()), float(v.std()), draws, stratified, tuple(values))


@functools.lru_cache(maxsize=32)
def real_floor(
    n: int,
    *,
    features: str = DEFAULT_FEATURES,
    draws: int = 25,
    stratified: bool = False,
    seed: int = 0,
    source: str = "auto",
) -> Floor:
    """The floor at n: FID of n real training digits against the held-out digits; cached.

    The training split plays the samples (digits from the true distribution that are not in
    the reference); see :func:`floor_from_features`. Cached per (features, n, draws,
    stratified, seed, source) for the session.

    Args:
        n: the number of samples of the score it stands beside.
        features: the FID features' name.
        draws: how many draws of n training digits.
        stratified: n/10 digits per class (for a class-balanced sampler) instead of n at random.
        seed: seeds the draws.
        source: the MNIST source (see :func:`~ddpm_tutorial.data.mnist.load_mnist`).
    """
    labels = load_mnist("train", source=source, verbose=False).labels
    mu, sigma, _ = reference_statistics(features, "test", source)
    pool = real_features(features, "train", source)
    return floor_from_features(
        pool, labels, (mu, sigma), n, draws=draws, stratified=stratified, seed=seed
    )


def fid_bootstrap(
    sample_features: Tensor,
    reference: tuple[Tensor, Tensor],
    *,
    resamples: int = 200,
    level: float = 0.95,
    method: IntervalMethod = "basic",
    seed: int = 0,
) -> dict[str, float]:
    r"""FID and a bootstrap interval from resampling the sample set (the reference is fixed).

    Args:
        sample_features: (M, D) features of the samples.
        reference: (mu (D,), sigma (D, D)) of the reference.
        resamples: bootstrap resamples B, each M features drawn with replacement.
        level: the interval's coverage.
        method: ``"basic"`` (the basic/pivotal bootstrap,
            :math:`[2\hat\theta - q_{1-\alpha/2}, 2\hat\theta - q_{\alpha/2}]`; see the module
            docstring) or ``"shifted-percentile"`` (:math:`[q_{\alpha/2} - b,
            q_{1-\alpha/2} - b]` with the bootstrap bias :math:`b`). Both are clipped at 0.
        seed: seeds the resampling.

    Returns:
        ``value`` (:math:`\hat\theta`), ``low``, ``high``, ``bias``
        (:math:`\bar\theta^* - \hat\theta`), ``bootstrap_sd``, ``resamples``, ``level``.
    """
    if method not in ("basic", "shifted-percentile"):
        raise ValueError(f"method must be 'basic' or 'shifted-percentile'; got {method!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    if resamples < 10:
        raise ValueError(f"a bootstrap interval needs at least 10 resamples; got {resamples}")
    M = sample_features.shape[0]
    value = frechet_distance(*gaussian_statistics(sample_features), *reference)
    g = torch.Generator().manual_seed(seed)
    boot = torch.tensor(
        [
            frechet_distance(
                *gaussian_statistics(sample_features[torch.randint(0, M, (M,), generator=g)]),
                *reference,
            )
            for _ in range(resamples)
        ],
        dtype=torch.float64,
    )
    alpha = 1 - level
    q_lo, q_hi = (float(torch.quantile(boot, q)) for q in (alpha / 2, 1 - alpha / 2))
    bias = float(boot.mean()) - value
    if method == "basic":
        low, high = 2 * value - q_hi, 2 * value - q_lo
    else:
        low, high = q_lo - bias, q_hi - bias
    return {
        "value": value,
        "low": max(low, 0.0),
        "high": max(high, 0.0),
        "bias": bias,
        "bootstrap_sd": float(boot.std()),
        "resamples": resamples,
        "level": level,
    }


@dataclass(frozen=True)
class Score:
    """A score with what a reader needs to trust it: its interval, its n and the floor at n."""

    value: float
    low: float
    high: float
    n: int
    floor: Floor | None
    method: str = "basic"
    level: float = 0.95
    features: str = DEFAULT_FEATURES

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: value, interval, interval_method, level, n, floor_at_n, features."""
        return {
            "value": round(self.value, 4),
            "interval": [round(self.low, 4), round(self.high, 4)],
            "interval_method": self.method,
            "level": self.level,
            "n": self.n,
            "floor_at_n": self.floor.as_dict() if self.floor is not None else None,
            "features": self.features,
        }


def score_fid(
    samples: Tensor,
    *,
    features: str = DEFAULT_FEATURES,
    resamples: int = 200,
    method: IntervalMethod = "basic",
    floor_draws: int = 25,
    stratified_floor: bool = False,
    seed: int = 0,
    source: str = "auto",
) -> Score:
    """FID of samples against the held-out digits, with its bootstrap interval, n and floor.

    Args:
        samples: (N, 1, 28, 28) in [-1, 1].
        features: the FID features' name.
        resamples, method: the bootstrap (see :func:`fid_bootstrap`).
        floor_draws: draws of the floor at N (see :func:`real_floor`); 0 leaves it out, and
            so does an N larger than the training split (there is no floor to draw).
        stratified_floor: the floor of a class-balanced sampler (n/10 per class).
        seed: seeds the bootstrap and the floor.
        source: the MNIST source.

    Returns:
        A :class:`Score`; ``score.as_dict()`` is the JSON the book reports.
    """
    f = extract_features(samples, features)
    mu, sigma, _ = reference_statistics(features, "test", source)
    boot = fid_bootstrap(f, (mu, sigma), resamples=resamples, method=method, seed=seed)
    pool_size = real_features(features, "train", source).shape[0]
    floor = (
        real_floor(
            f.shape[0],
            features=features,
            draws=floor_draws,
            stratified=stratified_floor,
            seed=seed,
            source=source,
        )
        if floor_draws and f.shape[0] <= pool_size
        else None
    )
    return Score(
        boot["value"], boot["low"], boot["high"], int(f.shape[0]), floor, method, 0.95, features
    )


def compare_scores(a: Score, b: Score) -> int:
    """Do two scores rank, or tie? Lower is better, as for FID and KID.

    Args:
        a, b: two scores; compare them only at the same n and with the same features.

    Returns:
        -1 if a's interval lies entirely below b's (a is better), +1 if entirely above (a is
        worse), 0 if the intervals overlap (a tie: the data do not rank them).
    """
    if a.n != b.n or a.features != b.features:
        raise ValueError(
            f"compare scores at the same n and features; got n={a.n} ({a.features}) and "
            f"n={b.n} ({b.features})"
        )
    if a.high < b.low:
        return -1
    if a.low > b.high:
        return 1
    return 0
