"""A small convolutional autoencoder with a Gaussian latent (the VAE of latent diffusion).

Rombach et al. (2022) train an autoencoder once, on images alone, and run diffusion in its
latent space. Its encoder maps an image to the mean and log-variance of a Gaussian over a
spatial latent; its decoder maps a latent back to an image. Here a 28x28 digit becomes a
``latent_channels x 7 x 7`` latent (a downsampling factor f = 4: 196 numbers for 784 pixels,
as Stable Diffusion's f = 8 turns 512x512x3 into 64x64x4). Training is in
:mod:`ddpm_tutorial.systems.latent_diffusion`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

__all__ = ["AutoencoderConfig", "Autoencoder"]


@dataclass(frozen=True)
class AutoencoderConfig:
    """Sizes of :class:`Autoencoder`: channels at 28x28 and 14x14/7x7, latent channels."""

    channels: int = 16
    latent_channels: int = 4
    num_groups: int = 8

    def __post_init__(self) -> None:
        if self.channels < 1 or self.latent_channels < 1:
            raise ValueError(
                f"channels and latent_channels must be >= 1; got {self.channels}, {self.latent_channels}"
            )
        if self.channels % self.num_groups:
            raise ValueError(
                f"channels {self.channels} must be divisible by num_groups={self.num_groups}"
            )


class _Res(nn.Module):
    """GroupNorm-SiLU-conv twice, with a residual connection."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(groups, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Autoencoder(nn.Module):
    """``encode``: (B, 1, 28, 28) -> mean, logvar (B, z, 7, 7); ``decode``: (B, z, 7, 7) -> (B, 1, 28, 28)."""

    def __init__(self, config: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or AutoencoderConfig()
        c, z, g = cfg.channels, cfg.latent_channels, cfg.num_groups
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1),
            _Res(c, g),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),  # 14x14
            _Res(2 * c, g),
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1),  # 7x7
            _Res(2 * c, g),
            nn.GroupNorm(g, 2 * c),
            nn.SiLU(),
            nn.Conv2d(2 * c, 2 * z, 3, padding=1),  # mean and log-variance
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(z, 2 * c, 3, padding=1),
            _Res(2 * c, g),
            nn.Upsample(scale_factor=2, mode="nearest"),  # 14x14
            nn.Conv2d(2 * c, 2 * c, 3, padding=1),
            _Res(2 * c, g),
            nn.Upsample(scale_factor=2, mode="nearest"),  # 28x28
            nn.Conv2d(2 * c, c, 3, padding=1),
            _Res(c, g),
            nn.GroupNorm(g, c),
            nn.SiLU(),
            nn.Conv2d(c, 1, 3, padding=1),
        )

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one latent."""
        return (self.config.latent_channels, 7, 7)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z | x), each (B, latent_channels, 7, 7)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"the autoencoder expects images of shape (B, 1, 28, 28); got {tuple(x.shape)}"
            )
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: Tensor) -> Tensor:
        """Images (B, 1, 28, 28) (not clipped) from latents (B, latent_channels, 7, 7)."""
        if z.ndim != 4 or tuple(z.shape[1:]) != self.latent_shape:
            raise ValueError(
                f"the decoder expects latents of shape (B, {', '.join(map(str, self.latent_shape))}); "
                f"got {tuple(z.shape)}"
            )
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction from the posterior mean (no sampling): decode(encode(x).mean)."""
        return self.decode(self.encode(x)[0])
