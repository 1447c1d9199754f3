r"""Super-resolution as a decoder trained on images alone: 14x14 -> 28x28 (4.1.2 (a)).

The training pairs cost nothing: every 28x28 digit :math:`x` gives a low-resolution input
:math:`\mathrm{down}(x)`, the mean of each 2x2 block (what a sensor with half the pixels
records), and the network :math:`f` is trained to undo it,

.. math::  \min_f \; \mathbb E_x \,\lVert f(\mathrm{down}(x)) - x \rVert^2 .

No text is involved: this regression network, like the book's diffusion upsampler
(:class:`~ddpm_tutorial.models.sr_unet.SuperResUNet`, which reads the low-resolution image
and its augmentation level only), is trained on digits alone. That is a simplification where
Imagen is concerned: its super-resolution models are text-conditional ("All diffusion models
are conditioned on the text embedding sequence", Saharia et al. 2022, sec. 1; text
cross-attention in both, sec. 2.5), so they train on image-text pairs. DALL-E 2's upsamplers
are the ones that see no caption ("We found no benefit from conditioning the upsamplers on
the caption", Ramesh et al. 2022, sec. 2.1). :func:`upsample` gives the interpolation
baselines the network must beat.

The regression network gives the conditional *mean* of the high-resolution digit, which is
blurred where several digits are compatible with the low-resolution one. Imagen's cascade
(4.4) instead *samples* the high-resolution image with a diffusion model conditioned on the
low-resolution one, :class:`~ddpm_tutorial.models.sr_unet.SuperResUNet`;
:func:`sample_super_resolution` runs it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.sr_cnn import SuperResConfig, SuperResNet
from ..models.sr_unet import SuperResUNet, augment_low_res
from ..reverse_process import sample_ddim
from ..schedules import NoiseSchedule
from ..training.fit import fit
from .latent_diffusion import reconstruction_metrics

__all__ = [
    "downsample",
    "sample_super_resolution",
    "super_resolution_report",
    "train_super_resolution",
    "upsample",
]


def downsample(images: Tensor, factor: int = 2) -> Tensor:
    """Average each ``factor x factor`` block: (B, C, H, W) -> (B, C, H / factor, W / factor)."""
    if images.ndim != 4 or images.shape[2] % factor or images.shape[3] % factor:
        raise ValueError(
            f"images must be (B, C, H, W) with H and W divisible by {factor}; got {tuple(images.shape)}"
        )
    return F.avg_pool2d(images, factor)


def upsample(low: Tensor, factor: int = 2, mode: str = "bicubic") -> Tensor:
    """Interpolation baseline: ``nearest``, ``bilinear`` or ``bicubic`` upsampling."""
    if mode not in ("nearest", "bilinear", "bicubic"):
        raise ValueError(f"mode must be nearest, bilinear or bicubic; got {mode!r}")
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(low, scale_factor=factor, mode=mode, **kwargs)


def train_super_resolution(
    images: Tensor,
    *,
    steps: int = 1000,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    config: SuperResConfig | None = None,
) -> tuple[SuperResNet, list[tuple[int, float]]]:
    """Train a :class:`SuperResNet` on (down(x), x) pairs with the squared error.

    Returns:
        The network (eval mode) and ``(step, mean loss)`` every ``max(1, steps // 20)`` steps.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = SuperResNet(config)

    def step_loss(step: int) -> Tensor:
        x = images[torch.randint(0, images.shape[0], (batch_size,), generator=g)]
        return F.mse_loss(model(downsample(x)), x)

    log = fit(model, step_loss, steps=steps, lr=lr, warmup=0.3)
    return model, [(int(step), loss) for step, loss in log]


@torch.no_grad()
def super_resolution_report(model: SuperResNet, images: Tensor) -> dict[str, dict[str, float]]:
    """Reconstruction error of nearest, bilinear, bicubic and ``model`` on held-out images."""
    low = downsample(images)
    out = {
        mode: reconstruction_metrics(images, upsample(low, mode=mode))
        for mode in ("nearest", "bilinear", "bicubic")
    }
    out["network"] = reconstruction_metrics(images, model(low))
    return out


@torch.no_grad()
def sample_super_resolution(
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    low_res: Tensor,
    *,
    aug_level: float = 0.1,
    num_steps: int = 50,
    clip_x0: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample high-resolution images from a super-resolution diffusion model, DDIM (eta 0).

    The low-resolution images are augmented once, at ``aug_level``, with noise from
    ``generator`` (:func:`~ddpm_tutorial.models.sr_unet.augment_low_res`), and the same
    augmented images condition every step.

    Args:
        model: a :class:`~ddpm_tutorial.models.sr_unet.SuperResUNet`.
        low_res: (B, C, h, w) in [-1, 1], h = the model's ``low_res_size``.
        aug_level: the noise-conditioning augmentation level s in [0, 1).
        clip_x0: clip the predicted clean image to [-1, 1] at each step (on by default: the
            low-resolution input pins the noise prediction down so well at large t that
            DDIM's division by sqrt(alpha_bar_t) amplifies its small errors out of range).

    Returns:
        (B, C, H, W) samples, H = the model's ``image_size``, on the CPU.
    """
    if not isinstance(model, SuperResUNet):
        raise TypeError(f"model must be a SuperResUNet; got {type(model).__name__}")
    cfg = model.config
    device = next(model.parameters()).device
    augmented, levels = augment_low_res(low_res.to(device).float(), aug_level, generator)
    shape = (low_res.shape[0], cfg.in_channels, cfg.image_size, cfg.image_size)
    out = sample_ddim(
        model,
        schedule,
        shape,
        num_steps=num_steps,
        cond={"low_res": augmented, "aug_level": levels},
        clip_x0=clip_x0,
        generator=generator,
        device=device,
    )
    return out.cpu()
