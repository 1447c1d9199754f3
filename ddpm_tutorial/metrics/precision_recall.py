r"""Fidelity and diversity apart: improved precision and recall, density and coverage.

FID and KID fold two failures into one number: samples that do not look real (fidelity) and
samples that cover only part of the real digits (diversity). These metrics keep them apart.
All four work on features, with Euclidean distances, and estimate each set's manifold by
k-nearest-neighbour balls: :math:`B(x, \mathrm{NND}_k(x))` is the ball around x whose radius
is the distance from x to its k-th nearest neighbour in its own set (the point itself not
counted). Real features :math:`X = \{x_i\}_{i=1}^N` (the reference), generated features
:math:`Y = \{y_j\}_{j=1}^M`.

**Improved precision and recall** (Kynkäänniemi et al. 2019, "Improved Precision and Recall
Metric for Assessing Generative Models"). A point is inside a set's manifold when it lies in
at least one of the set's k-NN balls,
:math:`f(\phi, \Phi) = 1` if :math:`\lVert\phi - \phi'\rVert_2 \le \mathrm{NND}_k(\phi')` for
some :math:`\phi' \in \Phi`. Then

.. math::

    \mathrm{precision} = \frac1M \sum_j f(y_j, X), \qquad
    \mathrm{recall} = \frac1N \sum_i f(x_i, Y).

Precision is the share of samples that look real; recall the share of real digits the samples
reach.

**Density and coverage** (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models"). Recall builds balls around the *samples*, so a few outlying samples
inflate it, and precision counts a sample once however many real balls it sits in. Density
counts, and coverage builds balls around the real points only:

.. math::

    \mathrm{density} = \frac{1}{kM} \sum_j \sum_i 1\bigl[y_j \in B(x_i, \mathrm{NND}_k(x_i))\bigr],
    \qquad
    \mathrm{coverage} = \frac1N \sum_i 1\bigl[\exists j:\ y_j \in B(x_i, \mathrm{NND}_k(x_i))\bigr].

Density can exceed 1 (samples crowded where real digits are dense); coverage falls when the
samples collapse onto a few modes, even when every sample looks real. Exact duplicates among
the samples give k-NN radii of 0, so recall drops to (almost) 0 for a set of exact copies:
prefer coverage for collapse. The same k serves all four (default 5).

Balls are closed here (a point at exactly the radius counts), as in Kynkäänniemi et al.'s
:math:`\le`; the reference implementation of Naeem et al. (the ``prdc`` package) compares with
a strict inequality, which differs only on exact ties.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["density_coverage", "knn_radii", "precision_recall", "prdc"]

#: rows per block of a distance matrix, to bound memory for large reference sets
_CHUNK = 1024


def knn_radii(features: Tensor, k: int) -> Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded).

    Args:
        features: (N, D), N > k.
        k: the neighbour's rank, >= 1.

    Returns:
        (N,) float64 radii.
    """
    if k < 1 or features.shape[0] <= k:
        raise ValueError(f"k-NN radii need 1 <= k < N; got k = {k}, N = {features.shape[0]}")
    f = features.double()
    # k + 1: the point itself is its own nearest neighbour, at distance 0
    return torch.cat(
        [
            torch.cdist(f[i : i + _CHUNK], f).kthvalue(k + 1, dim=1).values
            for i in range(0, len(f), _CHUNK)
        ]
    )


def _check(real: Tensor, fake: Tensor, k: int) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"features must be (N, D) and (M, D) with the same D; got {tuple(real.shape)} "
            f"and {tuple(fake.shape)}"
        )
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(
            f"k = {k} needs more than k features in each set; got N = {real.shape[0]}, "
            f"M = {fake.shape[0]}"
        )


def _ball_counts(centres: Tensor, radii: Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
    """For balls B(centres_i, radii_i): how many balls hold each point, and does each ball hold one.

    Returns:
        (per point: number of balls it lies in (M,), per ball: whether any point lies in it (N,)).
    """
    c, p = centres.double(), points.double()
    per_point = torch.zeros(p.shape[0], dtype=torch.float64)
    per_ball = []
    for i in range(0, c.shape[0], _CHUNK):
        inside = torch.cdist(c[i : i + _CHUNK], p) <= radii[i : i + _CHUNK, None]  # (chunk, M)
        per_point += inside.sum(0)
        per_ball.append(inside.any(1))
    return per_point, torch.cat(per_ball)


def precision_recall(real: Tensor, fake: Tensor, *, k: int = 5) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019; the module's equations).

    Args:
        real: (N, D) features of real images.
        fake: (M, D) features of generated images.
        k: the k of the k-NN balls.

    Returns:
        ``precision`` and ``recall``, each in [0, 1].
    """
    _check(real, fake, k)
    in_real_balls, _ = _ball_counts(real, knn_radii(real, k), fake)
    in_fake_balls, _ = _ball_counts(fake, knn_radii(fake, k), real)
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": float((in_fake_balls > 0).double().mean()),
    }


def density_coverage(real: Tensor, fake: Tensor, *, k: int = 5) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020; the module's equations).

    Args:
        real: (N, D) features of real images.
        fake: (M, D) features of generated images.
        k: the k of the k-NN balls around the real features.

    Returns:
        ``density`` (>= 0; about 1 for samples distributed like the real images) and
        ``coverage`` (in [0, 1]).
    """
    _check(real, fake, k)
    in_real_balls, covered = _ball_counts(real, knn_radii(real, k), fake)
    return {
        "density": float(in_real_balls.sum() / (k * fake.shape[0])),
        "coverage": float(covered.double().mean()),
    }


def prdc(real: Tensor, fake: Tensor, *, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage at once (the real k-NN balls computed once).

    Args:
        real: (N, D) features of real images.
        fake: (M, D) features of generated images.
        k: the k of every k-NN ball.

    Returns:
        ``precision``, ``recall``, ``density``, ``coverage`` and ``k``.
    """
    _check(real, fake, k)
    in_real_balls, covered = _ball_counts(real, knn_radii(real, k), fake)
    in_fake_balls, _ = _ball_counts(fake, knn_radii(fake, k), real)
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": float((in_fake_balls > 0).double().mean()),
        "density": float(in_real_balls.sum() / (k * fake.shape[0])),
        "coverage": float(covered.double().mean()),
        "k": k,
    }
