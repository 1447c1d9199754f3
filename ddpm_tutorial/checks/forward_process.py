"""Checkers for the forward process chapter: add_noise, add_noise_step, alpha_bars, SNR.

Each checker calls the reader's function on a small fixed input, compares the result with the
package's reference, prints ``<name> passed``, or raises ``AssertionError`` with a sentence that
says what differs. When the result matches a common mistake (a forgotten square root,
``alphas`` where ``alpha_bars`` belong, a step off by one) the message names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..forward_process import add_noise, add_noise_step
from ..schedules import NoiseSchedule, gather_at
from ._common import Mistake, as_tensor, call_reader, compare, fail, passed

__all__ = ["check_add_noise", "check_add_noise_step", "check_alpha_bars", "check_snr"]

_IMAGES_ONLY = (
    "it works for (B, C, H, W) only: reshape the per-example coefficient to (B, 1, ..., 1) "
    "for any number of dimensions"
)
"""The mistake of an ``add_noise`` that reshapes its coefficients to (B, 1, 1, 1) for good."""


# ---------------------------------------------------------------------------- fixtures
def _fixed_batch(
    seed: int = 0, example_shape: tuple[int, ...] = (1, 4, 4)
) -> tuple[Tensor, Tensor, Tensor, NoiseSchedule]:
    """A tiny batch: x0 of shape (6, ...) in [-1, 1], steps spread over [0, T), noise, schedule.

    The default example shape makes x0 an image batch (6, 1, 4, 4).
    """
    g = torch.Generator().manual_seed(seed)
    schedule = NoiseSchedule.linear(1000)
    x0 = torch.rand(6, *example_shape, generator=g) * 2 - 1
    t = torch.tensor([0, 1, 10, 250, 600, 999])
    noise = torch.randn(x0.shape, generator=g)
    return x0, t, noise, schedule


def _add_noise_mistakes(
    x0: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule
) -> list[Mistake]:
    """The x_t (shape of x0) that the usual mistakes in ``q(x_t | x0)`` give."""
    ab = gather_at(schedule.alpha_bars, t, like=x0)
    a = gather_at(schedule.alphas, t, like=x0)
    ab_prev = gather_at(schedule.alpha_bars_prev, t, like=x0)
    ab_next = gather_at(schedule.alpha_bars, (t + 1).clamp(max=schedule.num_steps - 1), like=x0)
    return [
        (
            ab * x0 + (1 - ab) * noise,
            "It looks like alpha_bar x0 + (1 - alpha_bar) noise: the square roots are missing "
            "(x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise).",
        ),
        (ab * x0 + (1 - ab).sqrt() * noise, "The square root of alpha_bar_t is missing on x0."),
        (
            ab.sqrt() * x0 + (1 - ab) * noise,
            "The square root of (1 - alpha_bar_t) is missing on the noise.",
        ),
        (
            a.sqrt() * x0 + (1 - a).sqrt() * noise,
            "It uses alpha_t (one step) instead of alpha_bar_t (the product of all alphas up "
            "to t).",
        ),
        (
            ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * noise,
            "It uses alpha_bars[t - 1]: steps are 0-based, so step t uses alpha_bars[t].",
        ),
        (
            ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * noise,
            "It uses alpha_bars[t + 1]: steps are 0-based, so step t uses alpha_bars[t].",
        ),
        (
            (1 - ab).sqrt() * x0 + ab.sqrt() * noise,
            "The coefficients of x0 and noise are swapped.",
        ),
    ]


# ---------------------------------------------------------------------------- checkers
def check_add_noise(
    candidate: Callable[[Tensor, Tensor, Tensor, NoiseSchedule], Tensor],
    *,
    images_only: bool = False,
) -> None:
    """Check ``candidate(x0, t, noise, schedule)`` against the closed form ``q(x_t | x0)``.

    The reference is :func:`ddpm_tutorial.forward_process.add_noise`:
    ``x_t = sqrt(alpha_bars[t]) x0 + sqrt(1 - alpha_bars[t]) noise`` (Ho et al. 2020, eq. 4),
    with 0-based steps ``t`` in [0, T), for ``x0`` and ``noise`` of any shape (B, ...).

    Args:
        candidate: the reader's ``add_noise``; it gets ``x0`` and ``noise`` of shape
            (6, 1, 4, 4) first (where the usual mistakes are named), then (6, 5) and
            (6, 3, 5), and ``t`` of shape (6,).
        images_only: try the image batch (6, 1, 4, 4) alone, for a function written for
            images (B, C, H, W) on purpose.
    """
    name = "check_add_noise"
    x0, t, noise, schedule = _fixed_batch()
    actual = as_tensor(name, call_reader(name, candidate, x0, t, noise, schedule), "x_t")
    mistakes = _add_noise_mistakes(x0, t, noise, schedule)
    compare(name, actual, add_noise(x0, t, noise, schedule), "x_t", mistakes=mistakes)
    for example_shape in [] if images_only else [(5,), (3, 5)]:
        # the formula is right on images: a failure now comes from the number of dimensions
        x0, t, noise, schedule = _fixed_batch(example_shape=example_shape)
        what = f"with x0 of shape {tuple(x0.shape)}, x_t"
        try:
            actual = as_tensor(name, call_reader(name, candidate, x0, t, noise, schedule), what)
            compare(name, actual, add_noise(x0, t, noise, schedule), what)
        except AssertionError as err:
            detail = str(err).removeprefix(f"{name} failed: ")
            fail(name, f"{_IMAGES_ONLY}. {detail[:1].upper()}{detail[1:]}")
    passed(name)


def check_add_noise_step(
    candidate: Callable[[Tensor, Tensor, Tensor, NoiseSchedule], Tensor],
) -> None:
    """Check ``candidate(x_prev, t, noise, schedule)``: one step of ``q(x_t | x_{t-1})``.

    The reference is :func:`ddpm_tutorial.forward_process.add_noise_step`:
    ``x_t = sqrt(alphas[t]) x_{t-1} + sqrt(betas[t]) noise`` (Ho et al. 2020, eq. 2), for
    ``x_prev`` and ``noise`` of shape (6, 1, 4, 4) and ``t`` of shape (6,).
    """
    name = "check_add_noise_step"
    x_prev, t, noise, schedule = _fixed_batch(seed=1)
    actual = as_tensor(name, call_reader(name, candidate, x_prev, t, noise, schedule), "x_t")
    a = gather_at(schedule.alphas, t, like=x_prev)
    b = gather_at(schedule.betas, t, like=x_prev)
    ab = gather_at(schedule.alpha_bars, t, like=x_prev)
    mistakes = [
        (
            a * x_prev + b * noise,
            "The square roots are missing (x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) noise).",
        ),
        (a.sqrt() * x_prev + b * noise, "The square root of beta_t is missing on the noise."),
        (a * x_prev + b.sqrt() * noise, "The square root of alpha_t is missing on x_{t-1}."),
        (
            x_prev + b.sqrt() * noise,
            "It keeps x_{t-1} unscaled (x_t = x_{t-1} + sqrt(beta_t) noise); without the factor "
            "sqrt(alpha_t) the variance grows at every step.",
        ),
        (
            ab.sqrt() * x_prev + (1 - ab).sqrt() * noise,
            "It looks like the closed form with alpha_bar_t: one step uses alpha_t = 1 - beta_t "
            "(and x_{t-1}, not x0).",
        ),
    ]
    expected = add_noise_step(x_prev, t, noise, schedule)
    compare(name, actual, expected, "x_t", mistakes=mistakes)
    passed(name)


def check_alpha_bars(candidate: Callable[[Tensor], Tensor]) -> None:
    """Check ``candidate(betas) -> alpha_bars``: ``alpha_bars[t] = prod_{i <= t} (1 - betas[i])``.

    ``betas`` and the result have shape (T,) = (6,). The product runs over every step up to
    and including ``t`` (0-based), so ``alpha_bars[0] = 1 - betas[0]`` (Ho et al. 2020, the
    line above eq. 4).
    """
    name = "check_alpha_bars"
    betas = torch.tensor([0.01, 0.05, 0.1, 0.2, 0.3, 0.5], dtype=torch.float64)
    expected = NoiseSchedule.from_betas(betas).alpha_bars
    actual = as_tensor(name, call_reader(name, candidate, betas.clone()), "alpha_bars")
    alphas = 1 - betas
    shifted = torch.cat([torch.ones(1, dtype=betas.dtype), expected[:-1]])
    mistakes = [
        (
            alphas,
            "It returns the alphas themselves: alpha_bar_t is the running product of alphas "
            "up to t.",
        ),
        (
            torch.cumsum(alphas, 0),
            "It is a running sum: alpha_bar_t is a running product (torch.cumprod).",
        ),
        (
            1 - torch.cumsum(betas, 0),
            "It is 1 - cumsum(betas): that is only a first-order approximation of the product.",
        ),
        (torch.cumprod(betas, 0), "It is the running product of the betas instead of the alphas."),
        (shifted, "It is alpha_bars shifted by one step (the product over i < t); include step t."),
        (expected.sqrt(), "It is the square root of the running product."),
    ]
    compare(name, actual, expected, "alpha_bars", mistakes=mistakes)
    passed(name)


def check_snr(candidate: Callable[[Tensor], Tensor]) -> None:
    """Check ``candidate(alpha_bars) -> snr`` with ``snr = alpha_bars / (1 - alpha_bars)``.

    ``alpha_bars`` and the result have shape (T,) = (19,). The signal-to-noise ratio of
    ``x_t = sqrt(ab) x0 + sqrt(1 - ab) noise`` compares the variances of the two parts:
    ``ab / (1 - ab)`` (Kingma et al. 2021).
    """
    name = "check_snr"
    alpha_bars = NoiseSchedule.cosine(20).alpha_bars[:-1]  # the last value is ~0: skip it
    expected = alpha_bars / (1 - alpha_bars)
    actual = as_tensor(name, call_reader(name, candidate, alpha_bars.clone()), "the SNR")
    mistakes = [
        (
            1 / expected,
            "It is the noise-to-signal ratio (1 - alpha_bar) / alpha_bar: the signal goes on top.",
        ),
        (
            expected.log(),
            "It is the log of the SNR; return the SNR itself (take the log when you plot it).",
        ),
        (
            expected.sqrt(),
            "It is a ratio of standard deviations, sqrt(alpha_bar / (1 - alpha_bar)); the SNR "
            "is a ratio of variances.",
        ),
        (alpha_bars, "It is alpha_bar alone: divide by the noise variance 1 - alpha_bar."),
    ]
    compare(name, actual, expected, "the SNR", mistakes=mistakes, rtol=1e-4)
    passed(name)
