"""Embeddings that tell a network which step it is at.

The sinusoidal embedding of Vaswani et al. (2017, section 3.5), used for the diffusion step by
Ho et al. (2020, appendix B). With ``k = dim / 2`` frequencies ``f_i = max_period^(-i / k)``,
``i = 0, ..., k - 1`` (``max_period = 10000`` by default), the sines fill the first half and the
cosines the second: ``emb[:, i] = sin(t f_i)`` and ``emb[:, k + i] = cos(t f_i)``. Vaswani et
al. interleave them instead (sines at even indices, cosines at odd ones); the features are the
same, in another order.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["sinusoidal_embedding", "TimestepEmbedding"]


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal features of the steps ``t``.

    Args:
        t: steps, shape (B,), integer or float.
        dim: the embedding size, even.
        max_period: the longest wavelength.

    Returns:
        Tensor of shape (B, dim), float32: ``[sin(t f_0), ..., sin(t f_{k-1}), cos(t f_0), ...]``
        with ``f_i = max_period^(-i / k)`` and ``k = dim / 2``.
    """
    if dim % 2:
        raise ValueError(f"the sinusoidal embedding size must be even; got dim={dim}")
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,); got {tuple(t.shape)}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class TimestepEmbedding(nn.Module):
    """Sinusoidal features of the step followed by a two-layer MLP: (B,) -> (B, out_dim)."""

    def __init__(self, sinusoid_dim: int, out_dim: int) -> None:
        super().__init__()
        self.sinusoid_dim = sinusoid_dim
        self.mlp = nn.Sequential(
            nn.Linear(sinusoid_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim)
        )

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.sinusoid_dim))
