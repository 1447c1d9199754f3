r"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

KID is the squared maximum mean discrepancy (MMD) between the features of real images
:math:`X = \{x_i\}` and of generated images :math:`Y = \{y_j\}`, with the cubic polynomial
kernel of the paper,

.. math::

    k(x, y) = \Bigl(\tfrac{1}{D}\, x^\top y + 1\Bigr)^3,

D being the feature dimension. Unlike FID it assumes no Gaussian shape, and its estimator is
unbiased: the unbiased estimate of MMD² (Gretton et al. 2012) from m features of each set,

.. math::

    \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)} \sum_{i \ne i'} k(x_i, x_{i'})
        + \frac{1}{m(m-1)} \sum_{j \ne j'} k(y_j, y_{j'})
        - \frac{2}{m^2} \sum_{i, j} k(x_i, y_j),

has expectation exactly 0 when both sets come from the same distribution, at any m (so a
real-vs-real KID scatters around 0 and can be negative). KID is reported as the mean of this
estimate over random subsets: each subset draws m features without replacement from each set,
independently, as the paper's released code does (``polynomial_mmd_averages`` in the
MMD-GAN repository's ``compute_scores.py``); the spread over subsets is reported beside it.
The defaults here, 100 subsets of m = 1,000 (or fewer when a set is smaller), are those of
torchmetrics' ``KernelInceptionDistance``.

KID is in the kernel's units, which depend on the features' scale: compare KIDs only within
one feature space.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["kid", "mmd2_unbiased", "polynomial_kernel"]


def polynomial_kernel(a: Tensor, b: Tensor) -> Tensor:
    r"""The cubic polynomial kernel matrix :math:`K_{ij} = (a_i^\top b_j / D + 1)^3`.

    Args:
        a: (N, D) features.
        b: (M, D) features.

    Returns:
        (N, M), in the dtype of the inputs.
    """
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """The unbiased estimate of MMD² with :func:`polynomial_kernel` (the module's equation).

    Args:
        x: (m, D) features of one set.
        y: (m, D) features of the other, the same m.

    Returns:
        A scalar tensor: within-set kernel means without the diagonal, minus twice the
        cross-set mean.
    """
    if y.shape[0] != x.shape[0] or x.shape[0] < 2:
        raise ValueError(
            f"the estimate takes m >= 2 features from each set; got {x.shape[0]} and {y.shape[0]}"
        )
    return _mmd2(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))


def _mmd2(kxx: Tensor, kyy: Tensor, kxy: Tensor) -> Tensor:
    m = kxx.shape[0]
    within = kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()
    return within / (m * (m - 1)) - 2 * kxy.mean()


#: sets up to this size get their kernel matrices computed once and indexed per subset
_PRECOMPUTE_MAX = 3000


def kid(
    real: Tensor,
    fake: Tensor,
    *,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """KID of generated features against real features: the mean of MMD² over random subsets.

    Args:
        real: (N, D) features of the real images (the reference).
        fake: (M, D) features of the generated images.
        num_subsets: how many subset pairs.
        subset_size: m, features per subset from each set; capped at min(N, M).
        seed: seeds the subsets.

    Returns:
        ``kid`` (mean over subsets), ``sd`` (over subsets), ``subset_size`` (the m used) and
        ``num_subsets``.
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"KID takes features (N, D) and (M, D) with the same D; got {tuple(real.shape)} "
            f"and {tuple(fake.shape)}"
        )
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1; got {num_subsets}")
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 features in each set; got subsets of {m}")
    x, y = real.double(), fake.double()
    g = torch.Generator().manual_seed(seed)
    subsets = [
        (torch.randperm(x.shape[0], generator=g)[:m], torch.randperm(y.shape[0], generator=g)[:m])
        for _ in range(num_subsets)
    ]
    if max(x.shape[0], y.shape[0]) <= _PRECOMPUTE_MAX:  # the same numbers, computed once
        kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
        values = torch.stack([_mmd2(kxx[i][:, i], kyy[j][:, j], kxy[i][:, j]) for i, j in subsets])
    else:
        values = torch.stack([mmd2_unbiased(x[i], y[j]) for i, j in subsets])
    return {
        "kid": float(values.mean()),
        "sd": float(values.std()) if num_subsets > 1 else 0.0,
        "subset_size": m,
        "num_subsets": num_subsets,
    }
