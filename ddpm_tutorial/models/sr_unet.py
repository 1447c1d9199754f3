r"""A super-resolution diffusion model with noise-conditioning augmentation (Imagen, sec. 2.5).

The denoiser of a cascade's second stage predicts the noise in a 28x28 image :math:`x_t`
given the 14x14 image :math:`y` it should agree with. :math:`y` is upsampled and concatenated
to :math:`x_t` (Saharia et al. 2022a, "SR3"), which the :class:`~ddpm_tutorial.models.unet.UNet`
does when ``cond_image_channels`` is set.

In a cascade, :math:`y` at sampling time is the *output of the base model*, not a real
downsampled digit, so the super-resolution model sees inputs unlike its training data.
Noise-conditioning augmentation (Ho et al. 2022, "Cascaded Diffusion Models"; Saharia et al.
2022, sec. 2.5) closes that gap: in training, the low-resolution image is corrupted with
Gaussian noise of a random level :math:`s \sim U[0, s_{max}]`,

.. math::  \tilde y = \sqrt{1 - s^2}\, y + s\, \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I),

and the network is told :math:`s` (its sinusoidal embedding is the UNet's ``pooled``
condition, added to the step embedding). At sampling time one fixed level is chosen; the
model then knows how far to trust :math:`\tilde y`, and small differences between the base
model's output and real low-resolution digits are drowned in noise it was trained to ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .embeddings import sinusoidal_embedding
from .unet import UNet, UNetConfig

__all__ = ["SuperResUNet", "SuperResUNetConfig", "augment_low_res"]


def augment_low_res(
    low_res: Tensor, level: Tensor | float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    r"""Noise-conditioning augmentation: :math:`\sqrt{1-s^2}\,y + s\,\varepsilon`.

    Args:
        low_res: the low-resolution images :math:`y`, shape (B, C, h, w), in [-1, 1].
        level: :math:`s` in [0, 1), a float for every image or a (B,) tensor.
        generator: the source of :math:`\varepsilon` (on the CPU; the noise is moved to
            ``low_res``'s device).

    Returns:
        ``(augmented, levels)``: (B, C, h, w) and the (B,) float32 levels.
    """
    B = low_res.shape[0]
    levels = (
        torch.full((B,), float(level)) if not isinstance(level, Tensor) else level.float().cpu()
    )
    if levels.shape != (B,):
        raise ValueError(f"level must be a float or a ({B},) tensor; got {tuple(levels.shape)}")
    if float(levels.min()) < 0 or float(levels.max()) >= 1:
        raise ValueError(f"augmentation levels must lie in [0, 1); got {levels.tolist()[:4]}...")
    noise = torch.randn(low_res.shape, generator=generator).to(low_res.device, low_res.dtype)
    s = levels.to(low_res.device, low_res.dtype)[:, None, None, None]
    return (1 - s**2).sqrt() * low_res + s * noise, levels.to(low_res.device)


@dataclass(frozen=True)
class SuperResUNetConfig(UNetConfig):
    """:class:`UNetConfig` of the 28x28 denoiser plus the low-resolution input and its
    augmentation. ``cond_image_channels`` and ``cond_dim`` follow and are filled in here."""

    low_res_size: int = 14
    aug_dim: int = 32
    max_aug_level: float = 0.5

    def __post_init__(self) -> None:
        for name, expected in (
            ("cond_image_channels", self.in_channels),
            ("cond_dim", self.aug_dim),
        ):
            value = getattr(self, name)
            if value in (0, None):
                object.__setattr__(self, name, expected)  # derived field of a frozen dataclass
            elif value != expected:
                raise ValueError(
                    f"{name} follows from the config: expected {expected}, got {value}"
                )
        super().__post_init__()
        if self.num_classes is not None or self.context_dim is not None:
            raise ValueError("a SuperResUNet is conditioned on the low-resolution image only")
        if self.image_size % self.low_res_size:
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of low_res_size {self.low_res_size}"
            )
        if not 0 <= self.max_aug_level < 1:
            raise ValueError(f"max_aug_level must lie in [0, 1); got {self.max_aug_level}")
        if self.aug_dim % 2:
            raise ValueError(f"aug_dim must be even; got {self.aug_dim}")


class SuperResUNet(nn.Module):
    """``eps_pred = SuperResUNet(x_t, t, cond)``: (B, C, H, W), (B,), low-res -> (B, C, H, W).

    ``cond`` is either

    * a tensor (B, C, h, w) of clean low-resolution images: in training mode they are augmented
      here at a random level in ``[0, max_aug_level]`` (a new level and new noise on every
      call, from the global torch generator); in eval mode they are used as they are, at
      level 0 (what the held-out loss measures); or
    * ``{"low_res": (B, C, h, w), "aug_level": (B,)}``: images already augmented by
      :func:`augment_low_res` at those levels (what a sampler passes at every step, so that
      the augmentation noise stays the same along the whole reverse process).
    """

    def __init__(self, config: SuperResUNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or SuperResUNetConfig()
        self.unet = UNet(cfg.unet_config())

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Any = None, *, cond_mask: Tensor | None = None
    ) -> Tensor:
        """Predict the noise in ``x_t`` given the low-resolution image (see the class docstring)."""
        cfg = self.config
        if cond is None:
            raise ValueError("a SuperResUNet needs the low-resolution image as cond")
        if isinstance(cond, Mapping):
            if set(cond) != {"low_res", "aug_level"}:
                raise ValueError(f"cond must hold low_res and aug_level; got {sorted(cond)}")
            low_res, levels = cond["low_res"], cond["aug_level"]
        elif isinstance(cond, Tensor):
            if self.training:
                u = torch.rand(cond.shape[0]) * cfg.max_aug_level
                low_res, levels = augment_low_res(cond, u)
            else:
                low_res, levels = cond, torch.zeros(cond.shape[0], device=cond.device)
        else:
            raise TypeError(f"cond must be a tensor or a dict; got {type(cond).__name__}")
        if low_res.ndim != 4 or low_res.shape[1:] != (
            cfg.in_channels,
            cfg.low_res_size,
            cfg.low_res_size,
        ):
            raise ValueError(
                f"low_res must have shape (B, {cfg.in_channels}, {cfg.low_res_size}, "
                f"{cfg.low_res_size}); got {tuple(low_res.shape)}"
            )
        aug = sinusoidal_embedding(levels.to(x_t.device) * 1000.0, cfg.aug_dim)
        return self.unet(x_t, t, {"image": low_res.to(x_t.dtype), "pooled": aug.to(x_t.dtype)})
