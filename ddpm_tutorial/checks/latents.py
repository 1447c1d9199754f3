"""Checkers for the decoder and latent-diffusion chapter: the KL term, latent scaling, pairs.

Each checker compares the reader's function with the package's reference
(:func:`ddpm_tutorial.latents.kl_divergence`, :func:`ddpm_tutorial.latents.latent_scale`,
:func:`ddpm_tutorial.super_resolution.downsample`), prints ``<name> passed`` or raises
``AssertionError`` naming the usual mistake it recognises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..latents import kl_divergence
from ._common import as_tensor, call_reader, close, diagnose, max_diff

__all__ = ["check_downsample", "check_kl_divergence", "check_scale_latents"]


def check_kl_divergence(candidate: Callable[[Tensor, Tensor], Any]) -> None:
    """Check ``candidate(mean, logvar)`` -> KL(N(mean, exp(logvar)) || N(0, I)) per example (B,)."""
    name = "check_kl_divergence"
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    actual = as_tensor(call_reader(name, candidate, mean, logvar), "the KL")
    expected = kl_divergence(mean, logvar)
    if close(actual, expected, 1e-6, 1e-8):
        print(f"{name} passed")
        return
    flat = lambda v: v.flatten(1).sum(1)  # noqa: E731
    mistakes = [
        (flat(mean**2 + logvar.exp() - 1 - logvar), "The KL has a factor 1/2 in front."),
        (
            0.5 * flat(mean**2 + logvar**2 - 1 - (logvar**2).log()),
            "logvar is the log of the variance: the variance is exp(logvar), not logvar squared.",
        ),
        (
            0.5 * (mean**2 + logvar.exp() - 1 - logvar).flatten(1).mean(1),
            "Sum over the latent's entries, don't average: the KL of independent coordinates adds up.",
        ),
        (
            0.5 * flat(mean**2 + logvar.exp() - 1 + logvar),
            "The log-variance enters with a minus sign.",
        ),
    ]
    raise AssertionError(
        f"{name} failed: {max_diff(actual, expected)}." + diagnose(actual, mistakes, 1e-6, 1e-8)
    )


def check_scale_latents(candidate: Callable[[Tensor], Any]) -> None:
    """Check ``candidate(latents)`` -> the scale factor 1 / std of the latents (a number)."""
    name = "check_scale_latents"
    g = torch.Generator().manual_seed(1)
    latents = 0.3 + 5.5 * torch.randn(64, 4, 7, 7, generator=g, dtype=torch.float64)
    actual = float(as_tensor(call_reader(name, candidate, latents), "the scale"))
    expected = float(1 / latents.std())
    if abs(actual - expected) <= 1e-6 * expected:
        print(f"{name} passed")
        return
    hints = {
        float(latents.std()): "That is the standard deviation itself; the scale is its inverse, "
        "so that scale * z has unit variance.",
        float(1 / latents.var()): "Divide by the standard deviation, not the variance.",
        float(1 / latents.abs().max()): "Scale by the standard deviation, not the largest value: "
        "the diffusion model's noise schedule assumes unit variance.",
    }
    found = [h for v, h in hints.items() if abs(actual - v) <= 1e-6 * abs(v)]
    raise AssertionError(
        f"{name} failed: expected {expected:.6f}, got {actual:.6f}."
        + "".join(" " + h for h in found)
    )


def check_downsample(candidate: Callable[[Tensor], Any]) -> None:
    """Check ``candidate(images)``: (B, 1, 28, 28) -> (B, 1, 14, 14), the mean of each 2x2 block."""
    name = "check_downsample"
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 1, 28, 28, generator=g, dtype=torch.float64) * 2 - 1
    actual = as_tensor(call_reader(name, candidate, x), "the small images")
    expected = F.avg_pool2d(x, 2)
    if close(actual, expected, 1e-6, 1e-8):
        print(f"{name} passed")
        return
    mistakes = [
        (
            x[:, :, ::2, ::2],
            "That keeps every other pixel (subsampling, which aliases thin "
            "strokes away); average each 2x2 block instead.",
        ),
        (F.max_pool2d(x, 2), "That is max pooling; average each 2x2 block instead."),
    ]
    raise AssertionError(
        f"{name} failed: {max_diff(actual, expected)}." + diagnose(actual, mistakes, 1e-6, 1e-8)
    )
