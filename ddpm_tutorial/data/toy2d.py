"""2-D toy datasets, where a diffusion model trains in seconds and every point can be plotted.

Each returns float32 points of shape (N, 2), roughly centred with unit scale.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["TOY_DATASETS", "make_toy_data", "two_moons", "gaussian_mixture", "swiss_roll"]


def two_moons(n: int, *, noise: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """Two interleaved half circles (as scikit-learn's ``make_moons``), shape (n, 2)."""
    n_out = n // 2
    n_in = n - n_out
    a_out = torch.rand(n_out, generator=generator) * math.pi
    a_in = torch.rand(n_in, generator=generator) * math.pi
    outer = torch.stack([a_out.cos(), a_out.sin()], dim=1)
    inner = torch.stack([1 - a_in.cos(), 1 - a_in.sin() - 0.5], dim=1)
    x = torch.cat([outer, inner]) + noise * torch.randn(n, 2, generator=generator)
    x = x - torch.tensor([0.5, 0.25])
    return x[torch.randperm(n, generator=generator)] / 0.8


def gaussian_mixture(
    n: int,
    *,
    num_modes: int = 8,
    radius: float = 1.5,
    std: float = 0.1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``num_modes`` Gaussians of std ``std`` evenly spaced on a circle, shape (n, 2)."""
    if num_modes < 1:
        raise ValueError(f"num_modes must be >= 1; got {num_modes}")
    k = torch.randint(0, num_modes, (n,), generator=generator)
    angle = 2 * math.pi * k.float() / num_modes
    centres = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return centres + std * torch.randn(n, 2, generator=generator)


def swiss_roll(n: int, *, noise: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """A 2-D spiral, ``(u cos u, u sin u)`` for u in [1.5 pi, 4.5 pi], scaled, shape (n, 2)."""
    u = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    x = torch.stack([u * u.cos(), u * u.sin()], dim=1) / 7.0
    return x + noise * torch.randn(n, 2, generator=generator)


TOY_DATASETS = {"moons": two_moons, "gmm": gaussian_mixture, "swissroll": swiss_roll}


def make_toy_data(name: str, n: int, *, seed: int = 0) -> Tensor:
    """Draw ``n`` points of the toy dataset ``name`` (``moons``, ``gmm`` or ``swissroll``)."""
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {name!r}; choose one of {', '.join(TOY_DATASETS)}")
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    return TOY_DATASETS[name](n, generator=torch.Generator().manual_seed(seed))
