"""Checkers for the decoder and latent-diffusion chapter: the KL term, latent scaling, pairs.

Each checker compares the reader's function with the package's reference
(:func:`ddpm_tutorial.systems.latent_diffusion.kl_divergence`, :func:`ddpm_tutorial.systems.latent_diffusion.latent_scale`,
:func:`ddpm_tutorial.systems.super_resolution.downsample`), prints ``<name> passed`` or raises
``AssertionError`` naming the usual mistake it recognises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..systems.latent_diffusion import kl_divergence
from ._common import as_scalar, as_tensor, call_reader, compare, passed

__all__ = ["check_downsample", "check_kl_divergence", "check_scale_latents"]

_RTOL, _ATOL = 1e-6, 1e-8


def check_kl_divergence(candidate: Callable[[Tensor, Tensor], Any]) -> None:
    """Check ``candidate(mean, logvar)`` -> KL(N(mean, exp(logvar)) || N(0, I)) per example (B,).

    ``mean`` and ``logvar`` have shape (3, 2, 4, 4); the result has shape (3,).
    """
    name = "check_kl_divergence"
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    actual = as_tensor(name, call_reader(name, candidate, mean, logvar), "the KL")
    expected = kl_divergence(mean, logvar)

    def per_example(v: Tensor) -> Tensor:
        return v.flatten(1).sum(1)

    mistakes = [
        (per_example(mean**2 + logvar.exp() - 1 - logvar), "The KL has a factor 1/2 in front."),
        (
            0.5 * per_example(mean**2 + logvar**2 - 1 - (logvar**2).log()),
            "logvar is the log of the variance: the variance is exp(logvar), not logvar squared.",
        ),
        (
            0.5 * (mean**2 + logvar.exp() - 1 - logvar).flatten(1).mean(1),
            "Sum over the latent's entries, don't average: the KL of independent coordinates "
            "adds up.",
        ),
        (
            0.5 * per_example(mean**2 + logvar.exp() - 1 + logvar),
            "The log-variance enters with a minus sign.",
        ),
    ]
    compare(name, actual, expected, "the KL", mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)


def check_scale_latents(candidate: Callable[[Tensor], Any]) -> None:
    """Check ``candidate(latents)`` -> the scale factor 1 / std of the latents (a number).

    ``latents`` has shape (64, 4, 7, 7).
    """
    name = "check_scale_latents"
    g = torch.Generator().manual_seed(1)
    latents = 0.3 + 5.5 * torch.randn(64, 4, 7, 7, generator=g, dtype=torch.float64)
    actual = as_scalar(name, call_reader(name, candidate, latents), "the scale")
    expected = 1 / latents.std()
    mistakes = [
        (
            float(latents.std()),
            "That is the standard deviation itself; the scale is its inverse, so that "
            "scale * z has unit variance.",
        ),
        (float(1 / latents.var()), "Divide by the standard deviation, not the variance."),
        (
            float(1 / latents.abs().max()),
            "Scale by the standard deviation, not the largest value: the diffusion model's noise "
            "schedule assumes unit variance.",
        ),
    ]
    compare(name, actual, expected, "the scale", mistakes=mistakes, rtol=_RTOL, atol=0.0)
    passed(name)


def check_downsample(candidate: Callable[[Tensor], Any]) -> None:
    """Check ``candidate(images)``: (B, 1, 28, 28) -> (B, 1, 14, 14), the mean of each 2x2 block."""
    name = "check_downsample"
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 1, 28, 28, generator=g, dtype=torch.float64) * 2 - 1
    actual = as_tensor(name, call_reader(name, candidate, x), "the small images")
    expected = F.avg_pool2d(x, 2)
    mistakes = [
        (
            x[:, :, ::2, ::2],
            "That keeps every other pixel (subsampling, which aliases thin strokes away); "
            "average each 2x2 block instead.",
        ),
        (F.max_pool2d(x, 2), "That is max pooling; average each 2x2 block instead."),
    ]
    compare(name, actual, expected, "the small images", mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)
