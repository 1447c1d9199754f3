"""A super-resolution network: a 14x14 digit in, the 28x28 digit out (a decoder of 4.1.2).

The low-resolution image is upsampled bilinearly and a small residual conv net predicts what
bilinear interpolation misses: ``y = up(x) + f(up(x))``. The last convolution starts at zero,
so an untrained network is exactly bilinear upsampling and training can only improve on it.
(Imagen's super-resolution stages are diffusion models conditioned on the small image; this
regression model is the plain decoder they improve on.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SuperResConfig", "SuperResNet"]


@dataclass(frozen=True)
class SuperResConfig:
    """Sizes of :class:`SuperResNet`."""

    channels: int = 32
    num_blocks: int = 3
    low_size: int = 14
    scale: int = 2

    def __post_init__(self) -> None:
        if self.channels < 1 or self.num_blocks < 0 or self.scale < 1 or self.low_size < 1:
            raise ValueError(
                f"channels, low_size, scale must be >= 1 and num_blocks >= 0; got {self}"
            )


class _Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SuperResNet(nn.Module):
    """(B, 1, low, low) in [-1, 1] -> (B, 1, low * scale, low * scale), not clipped."""

    def __init__(self, config: SuperResConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or SuperResConfig()
        self.conv_in = nn.Conv2d(1, cfg.channels, 3, padding=1)
        self.blocks = nn.Sequential(*(_Block(cfg.channels) for _ in range(cfg.num_blocks)))
        self.conv_out = nn.Conv2d(cfg.channels, 1, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, low: Tensor) -> Tensor:
        cfg = self.config
        if low.ndim != 4 or tuple(low.shape[1:]) != (1, cfg.low_size, cfg.low_size):
            raise ValueError(
                f"SuperResNet expects (B, 1, {cfg.low_size}, {cfg.low_size}) images; got {tuple(low.shape)}"
            )
        up = F.interpolate(low, scale_factor=cfg.scale, mode="bilinear", align_corners=False)
        return up + self.conv_out(F.silu(self.blocks(self.conv_in(up))))
