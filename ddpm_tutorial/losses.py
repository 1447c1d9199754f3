"""The training objective: Algorithm 1 of Ho et al. (2020).

``L_simple = E_{t, x0, noise} || noise - eps_pred(sqrt(ab_t) x0 + sqrt(1 - ab_t) noise, t) ||^2``
(eq. 14): draw a clean image, a step uniformly in [0, T) and a standard normal noise, make the
noisy image ourselves, and regress the network's output onto the noise we added. The "ground
truth" of the noise predictor is the noise we made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ._validation import check_images
from .forward_process import add_noise
from .schedules import NoiseSchedule

__all__ = ["denoising_loss", "noise_prediction_loss", "sample_steps"]

Denoiser = Callable[..., Tensor]


def sample_steps(
    batch_size: int,
    schedule: NoiseSchedule,
    *,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw ``t ~ Uniform{0, ..., T-1}`` for each example: int64, shape (B,)."""
    gen_device = generator.device if generator is not None else device
    t = torch.randint(0, schedule.num_steps, (batch_size,), generator=generator, device=gen_device)
    return t.to(device)


def noise_prediction_loss(
    model: Denoiser,
    x0: Tensor,
    schedule: NoiseSchedule,
    *,
    cond: Any = None,
    cond_drop_prob: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One Monte Carlo estimate of ``L_simple`` (Ho et al. 2020, Algorithm 1, eq. 14).

    Args:
        model: a denoiser ``model(x_t, t)`` or, with ``cond``, ``model(x_t, t, cond,
            cond_mask=keep)`` returning the predicted noise with the shape of ``x_t``.
        x0: a batch of clean images, shape (B, C, H, W), in [-1, 1].
        schedule: the noise schedule.
        cond: optional conditioning passed to the model (labels, text tokens, ...).
        cond_drop_prob: probability of replacing an example's condition by the model's
            "no condition", which classifier-free guidance needs (Ho & Salimans 2022).
        generator: optional generator for t, the noise and the dropout mask.

    Returns:
        The mean squared error, a scalar tensor.
    """
    check_images(x0, "x0")
    if not 0.0 <= cond_drop_prob <= 1.0:
        raise ValueError(f"cond_drop_prob must lie in [0, 1]; got {cond_drop_prob}")
    B = x0.shape[0]
    gen_device = generator.device if generator is not None else x0.device
    t = sample_steps(B, schedule, device=x0.device, generator=generator)
    noise = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=x0.dtype)
    noise = noise.to(x0.device)
    keep = None
    if cond is not None:
        keep = torch.rand(B, generator=generator, device=gen_device).to(x0.device) >= cond_drop_prob
    return denoising_loss(model, x0, t, noise, schedule, cond=cond, keep=keep)


def denoising_loss(
    model: Denoiser,
    x0: Tensor,
    t: Tensor,
    noise: Tensor,
    schedule: NoiseSchedule,
    *,
    cond: Any = None,
    keep: Tensor | None = None,
) -> Tensor:
    """``|| noise - model(x_t, t) ||^2`` for given draws (Ho et al. 2020, eq. 14).

    :func:`noise_prediction_loss` draws ``t``, the noise and the dropout mask and calls this;
    a loop that draws them itself (the distributed training loop draws a global batch and
    keeps its slice) calls it directly.

    Args:
        model: the denoiser, as in :func:`noise_prediction_loss`.
        x0: clean images, shape (B, C, H, W).
        t: steps, int64, shape (B,).
        noise: the noise, shape of ``x0``.
        schedule: the noise schedule.
        cond: optional condition, passed to the model with ``cond_mask=keep``.
        keep: (B,) bool, False where an example's condition is dropped (None: keep all).

    Returns:
        The mean squared error in float32, a scalar tensor.
    """
    x_t = add_noise(x0, t, noise, schedule)
    eps_pred = model(x_t, t) if cond is None else model(x_t, t, cond, cond_mask=keep)
    if eps_pred.shape != noise.shape:
        raise ValueError(
            f"the model returned shape {tuple(eps_pred.shape)}; a noise predictor must return "
            f"the shape of x_t, {tuple(noise.shape)}"
        )
    return F.mse_loss(eps_pred.float(), noise.float())  # in float32 under 16-bit autocast too
