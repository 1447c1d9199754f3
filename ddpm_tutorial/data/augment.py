"""Data augmentation for the networks that read digits (classifiers, CLIP's image tower)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["augment_digits"]


def augment_digits(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random rotation (+-12 deg), scale (0.9-1.1) and shift (+-2 px) of a batch in [-1, 1].

    Args:
        x: digits, shape (B, 1, H, W), background -1.
        generator: the source of every random parameter (on the CPU).

    Returns:
        The transformed batch, shape of ``x``; pixels moved in from outside are background.
    """
    B = x.shape[0]
    angle = (torch.rand(B, generator=generator) - 0.5) * 2 * math.radians(12)
    scale = 0.9 + 0.2 * torch.rand(B, generator=generator)
    shift = (torch.rand(B, 2, generator=generator) - 0.5) * 2 * (2 / 14)
    cos, sin = angle.cos() / scale, angle.sin() / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return (
        F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1
    )  # pad with background
