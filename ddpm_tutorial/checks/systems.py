"""Checkers for the chapters on Stable Diffusion, the DALL-E series and Imagen.

* :func:`check_cross_attention`: Stable Diffusion's cross-attention (Rombach et al. 2022,
  eq. 3), queries from the image and keys and values from the text;
* :func:`check_prior_ddim_step`: one DDIM step of unCLIP's prior, which predicts the clean
  embedding rather than the noise;
* :func:`check_noise_augmentation`: Imagen's noise-conditioning augmentation;
* :func:`check_dynamic_threshold`: Imagen's dynamic thresholding (Saharia et al. 2022,
  sec. 2.3), against :func:`ddpm_tutorial.reverse_process.dynamic_threshold_x0`.

Each prints ``<name> passed`` or raises ``AssertionError`` naming the usual mistake.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..reverse_process import dynamic_threshold_x0
from ._common import as_tensor, call_reader, compare, passed

__all__ = [
    "check_cross_attention",
    "check_dynamic_threshold",
    "check_noise_augmentation",
    "check_prior_ddim_step",
]

_RTOL, _ATOL = 1e-6, 1e-8


def check_cross_attention(
    candidate: Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Any],
) -> None:
    r"""Check ``candidate(h, context, w_q, w_k, w_v)`` -> cross-attention output (B, N, d).

    ``h`` (B, N, C) are the image positions, ``context`` (B, L, D) the text tokens, and the
    projections ``w_q`` (C, d), ``w_k`` (D, d), ``w_v`` (D, d) are matrices applied on the
    right: :math:`\mathrm{softmax}\big((h W_Q)(c W_K)^\top / \sqrt d\big)\,(c W_V)`, the
    softmax over the L text tokens.
    """
    name = "check_cross_attention"
    g = torch.Generator().manual_seed(0)
    B, N, L, C, D, d = 2, 5, 3, 6, 4, 8
    h = torch.randn(B, N, C, generator=g, dtype=torch.float64)
    context = torch.randn(B, L, D, generator=g, dtype=torch.float64)
    w_q = torch.randn(C, d, generator=g, dtype=torch.float64)
    w_k = torch.randn(D, d, generator=g, dtype=torch.float64)
    w_v = torch.randn(D, d, generator=g, dtype=torch.float64)
    actual = as_tensor(name, call_reader(name, candidate, h, context, w_q, w_k, w_v), "the output")
    q, k, v = h @ w_q, context @ w_k, context @ w_v
    scores = q @ k.transpose(1, 2)
    expected = (scores / math.sqrt(d)).softmax(-1) @ v
    mistakes = [
        (
            scores.softmax(-1) @ v,
            "Divide the scores by sqrt(d), the size of a query, before the softmax.",
        ),
        (
            (scores / math.sqrt(d)).softmax(1) @ v,
            "The softmax runs over the text tokens (the last axis of Q K^T): each image "
            "position distributes its attention over the words.",
        ),
        ((scores / d).softmax(-1) @ v, "Divide by sqrt(d), not d."),
    ]
    compare(name, actual, expected, "the output", mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)


def check_prior_ddim_step(candidate: Callable[[Tensor, Tensor, float, float], Any]) -> None:
    r"""Check ``candidate(z_t, z0_pred, alpha_bar_t, alpha_bar_s)`` -> :math:`z_s` (eta 0).

    The prior predicts :math:`\hat z_0`; the implied noise is
    :math:`\hat\varepsilon = (z_t - \sqrt{\bar\alpha_t}\,\hat z_0)/\sqrt{1-\bar\alpha_t}` and
    :math:`z_s = \sqrt{\bar\alpha_s}\,\hat z_0 + \sqrt{1-\bar\alpha_s}\,\hat\varepsilon`.
    ``z_t`` and ``z0_pred`` have shape (B, D) = (4, 16), the alpha bars are floats, and
    :math:`z_s` has shape (B, D).
    """
    name = "check_prior_ddim_step"
    g = torch.Generator().manual_seed(1)
    z_t = torch.randn(4, 16, generator=g, dtype=torch.float64)
    z0 = torch.randn(4, 16, generator=g, dtype=torch.float64)
    a_t, a_s = 0.3, 0.7
    actual = as_tensor(name, call_reader(name, candidate, z_t, z0, a_t, a_s), "z_s")
    eps = (z_t - math.sqrt(a_t) * z0) / math.sqrt(1 - a_t)
    expected = math.sqrt(a_s) * z0 + math.sqrt(1 - a_s) * eps
    mistakes = [
        (
            math.sqrt(a_s) * z0 + math.sqrt(1 - a_s) * (z_t - math.sqrt(a_t) * z0),
            "The implied noise divides by sqrt(1 - alpha_bar_t).",
        ),
        (
            math.sqrt(a_s) * z0 + math.sqrt(1 - a_s) * z_t,
            "z_t is not the noise: recover the noise from z_t and the predicted z_0 first.",
        ),
        (
            a_s * z0 + (1 - a_s) * eps,
            "The coefficients are square roots: sqrt(alpha_bar_s) and sqrt(1 - alpha_bar_s).",
        ),
    ]
    compare(name, actual, expected, "z_s", mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)


def check_noise_augmentation(candidate: Callable[[Tensor, float, Tensor], Any]) -> None:
    r"""Check ``candidate(low_res, level, noise)`` -> :math:`\sqrt{1-s^2}\,y + s\,\varepsilon`.

    ``low_res`` (:math:`y`) and ``noise`` have shape (3, 1, 14, 14), ``level`` (:math:`s`) is
    a float; the result has the shape of ``low_res``.
    """
    name = "check_noise_augmentation"
    g = torch.Generator().manual_seed(2)
    y = torch.rand(3, 1, 14, 14, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(3, 1, 14, 14, generator=g, dtype=torch.float64)
    s = 0.4
    actual = as_tensor(name, call_reader(name, candidate, y, s, noise), "the augmented image")
    expected = math.sqrt(1 - s**2) * y + s * noise
    mistakes = [
        (y + s * noise, "Shrink the image by sqrt(1 - s^2) too, so its variance stays the same."),
        ((1 - s) * y + s * noise, "The image's factor is sqrt(1 - s^2), not 1 - s."),
        (
            math.sqrt(1 - s) * y + math.sqrt(s) * noise,
            "s is a standard deviation, not a variance: the noise's factor is s itself.",
        ),
    ]
    compare(
        name, actual, expected, "the augmented image", mistakes=mistakes, rtol=_RTOL, atol=_ATOL
    )
    passed(name)


def check_dynamic_threshold(candidate: Callable[[Tensor, float], Any]) -> None:
    """Check ``candidate(x0_pred, percentile)`` -> Imagen's dynamic thresholding, per example.

    ``x0_pred`` has shape (4, 1, 8, 8) and ``percentile`` is a float in (0, 1); the result
    has the shape of ``x0_pred``. Per example, ``s = max(quantile(|x0_pred|, percentile), 1)``
    and the result is ``clamp(x0_pred, -s, s) / s``.
    """
    name = "check_dynamic_threshold"
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(4, 1, 8, 8, generator=g, dtype=torch.float64) * torch.tensor(
        [0.3, 1.0, 2.5, 6.0], dtype=torch.float64
    ).view(4, 1, 1, 1)
    p = 0.9
    actual = as_tensor(name, call_reader(name, candidate, x0, p), "the thresholded images")
    expected = dynamic_threshold_x0(x0, p)
    flat = x0.reshape(4, -1).abs()
    s_raw = torch.quantile(flat, p, dim=1).view(4, 1, 1, 1)
    s_batch = torch.quantile(flat.flatten(), p).clamp(min=1)
    mistakes = [
        (
            x0.clamp(-1, 1),
            "That is static clipping: choose the threshold s per example from the "
            "percentile of |x0|.",
        ),
        (
            x0.clamp(-s_raw, s_raw) / s_raw,
            "s is at least 1: images already inside [-1, 1] are left alone (s = max(quantile, 1)).",
        ),
        (
            x0.clamp(-s_raw.clamp(min=1), s_raw.clamp(min=1)),
            "After clipping to [-s, s], divide by s so that the result lies in [-1, 1].",
        ),
        (
            x0.clamp(-s_batch, s_batch) / s_batch,
            "One threshold per example, not one for the whole batch.",
        ),
    ]
    compare(
        name, actual, expected, "the thresholded images", mistakes=mistakes, rtol=1e-5, atol=1e-7
    )
    passed(name)
