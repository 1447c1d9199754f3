"""Checkers for the forward process chapter: add_noise, add_noise_step, alpha_bars, SNR.

Each checker calls the reader's function on a small fixed input, compares the result with the
package's reference, prints ``<name> passed``, or raises ``AssertionError`` with a sentence that
says what differs. When the result matches a common mistake (a forgotten square root,
``alphas`` where ``alpha_bars`` belong, a step off by one) the message names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..forward_process import add_noise, add_noise_step
from ..schedules import NoiseSchedule, gather_at
from ._common import call_reader

__all__ = ["check_add_noise", "check_add_noise_step", "check_alpha_bars", "check_snr"]


# ---------------------------------------------------------------------------- shared helpers
def _as_tensor(name: str, value: Any, like: Tensor, what: str = "the result") -> Tensor:
    """Check that the reader returned a tensor of the expected shape."""
    if not isinstance(value, Tensor):
        kind = type(value).__name__
        raise AssertionError(f"{name} failed: {what} should be a torch.Tensor; got {kind}")
    if value.shape != like.shape:
        raise AssertionError(
            f"{name} failed: {what} should have shape {tuple(like.shape)}; got {tuple(value.shape)}"
        )
    return value


def _close(a: Tensor, b: Tensor, rtol: float, atol: float) -> bool:
    a64, b64 = a.detach().to(torch.float64), b.detach().to(torch.float64)
    return bool(torch.allclose(a64, b64, rtol=rtol, atol=atol))


def _compare(
    name: str,
    actual: Tensor,
    expected: Tensor,
    mistakes: list[tuple[Tensor, str]] | None = None,
    *,
    what: str = "the result",
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Raise a readable AssertionError unless ``actual`` is close to ``expected``.

    ``mistakes`` pairs the result that a common mistake gives with a sentence describing it;
    if ``actual`` matches one of them, the message names the mistake.
    """
    if _close(actual, expected, rtol, atol):
        return
    for wrong, description in mistakes or []:
        if wrong.shape == actual.shape and _close(actual, wrong, rtol, atol):
            raise AssertionError(f"{name} failed: {what} looks like {description}.")
    diff = (actual.detach().to(torch.float64) - expected.detach().to(torch.float64)).abs()
    i = int(diff.flatten().argmax())
    raise AssertionError(
        f"{name} failed: {what} differs from the reference by up to {diff.max().item():.3g} "
        f"(at flat index {i}: yours {actual.flatten()[i].item():.6g}, "
        f"expected {expected.flatten()[i].item():.6g})."
    )


def _fixed_batch(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, NoiseSchedule]:
    """A tiny batch: x0 (6, 1, 4, 4) in [-1, 1], steps spread over [0, T), noise, schedule."""
    g = torch.Generator().manual_seed(seed)
    schedule = NoiseSchedule.linear(1000)
    x0 = torch.rand(6, 1, 4, 4, generator=g) * 2 - 1
    t = torch.tensor([0, 1, 10, 250, 600, 999])
    noise = torch.randn(x0.shape, generator=g)
    return x0, t, noise, schedule


# ---------------------------------------------------------------------------- checkers
def check_add_noise(candidate: Callable[[Tensor, Tensor, Tensor, NoiseSchedule], Tensor]) -> None:
    """Check ``candidate(x0, t, noise, schedule)`` against the closed form ``q(x_t | x0)``.

    The reference is :func:`ddpm_tutorial.forward_process.add_noise`:
    ``x_t = sqrt(alpha_bars[t]) x0 + sqrt(1 - alpha_bars[t]) noise`` (Ho et al. 2020, eq. 4),
    with 0-based steps ``t`` in [0, T).
    """
    name = "check_add_noise"
    x0, t, noise, schedule = _fixed_batch()
    actual = _as_tensor(name, call_reader(name, candidate, x0, t, noise, schedule), x0)
    expected = add_noise(x0, t, noise, schedule)
    ab = gather_at(schedule.alpha_bars, t, like=x0)
    a = gather_at(schedule.alphas, t, like=x0)
    ab_prev = gather_at(schedule.alpha_bars_prev, t, like=x0)
    ab_next = gather_at(schedule.alpha_bars, (t + 1).clamp(max=schedule.num_steps - 1), like=x0)
    mistakes = [
        (
            ab * x0 + (1 - ab) * noise,
            "alpha_bar x0 + (1 - alpha_bar) noise: the square roots are missing "
            "(x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise)",
        ),
        (ab * x0 + (1 - ab).sqrt() * noise, "the square root of alpha_bar_t is missing on x0"),
        (
            ab.sqrt() * x0 + (1 - ab) * noise,
            "the square root of (1 - alpha_bar_t) is missing on the noise",
        ),
        (
            a.sqrt() * x0 + (1 - a).sqrt() * noise,
            "it uses alpha_t (one step) instead of alpha_bar_t (the product of all alphas up to t)",
        ),
        (
            ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * noise,
            "it uses alpha_bars[t - 1]: steps are 0-based, so step t uses alpha_bars[t]",
        ),
        (
            ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * noise,
            "it uses alpha_bars[t + 1]: steps are 0-based, so step t uses alpha_bars[t]",
        ),
        ((1 - ab).sqrt() * x0 + ab.sqrt() * noise, "the coefficients of x0 and noise are swapped"),
    ]
    _compare(name, actual, expected, mistakes, what="x_t")
    print(f"{name} passed")


def check_add_noise_step(
    candidate: Callable[[Tensor, Tensor, Tensor, NoiseSchedule], Tensor],
) -> None:
    """Check ``candidate(x_prev, t, noise, schedule)``: one step of ``q(x_t | x_{t-1})``.

    The reference is :func:`ddpm_tutorial.forward_process.add_noise_step`:
    ``x_t = sqrt(alphas[t]) x_{t-1} + sqrt(betas[t]) noise`` (Ho et al. 2020, eq. 2).
    """
    name = "check_add_noise_step"
    x_prev, t, noise, schedule = _fixed_batch(seed=1)
    actual = _as_tensor(name, call_reader(name, candidate, x_prev, t, noise, schedule), x_prev)
    expected = add_noise_step(x_prev, t, noise, schedule)
    a = gather_at(schedule.alphas, t, like=x_prev)
    b = gather_at(schedule.betas, t, like=x_prev)
    ab = gather_at(schedule.alpha_bars, t, like=x_prev)
    mistakes = [
        (
            a * x_prev + b * noise,
            "the square roots are missing (x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) noise)",
        ),
        (a.sqrt() * x_prev + b * noise, "the square root of beta_t is missing on the noise"),
        (a * x_prev + b.sqrt() * noise, "the square root of alpha_t is missing on x_{t-1}"),
        (
            x_prev + b.sqrt() * noise,
            "it keeps x_{t-1} unscaled (x_t = x_{t-1} + sqrt(beta_t) noise); without the factor "
            "sqrt(alpha_t) the variance grows at every step",
        ),
        (
            ab.sqrt() * x_prev + (1 - ab).sqrt() * noise,
            "the closed form with alpha_bar_t: one step uses alpha_t = 1 - beta_t (and x_{t-1}, "
            "not x0)",
        ),
    ]
    _compare(name, actual, expected, mistakes, what="x_t")
    print(f"{name} passed")


def check_alpha_bars(candidate: Callable[[Tensor], Tensor]) -> None:
    """Check ``candidate(betas) -> alpha_bars``: ``alpha_bars[t] = prod_{i <= t} (1 - betas[i])``.

    The product runs over every step up to and including ``t`` (0-based), so
    ``alpha_bars[0] = 1 - betas[0]`` (Ho et al. 2020, the line above eq. 4).
    """
    name = "check_alpha_bars"
    betas = torch.tensor([0.01, 0.05, 0.1, 0.2, 0.3, 0.5], dtype=torch.float64)
    expected = NoiseSchedule.from_betas(betas).alpha_bars
    actual = _as_tensor(name, call_reader(name, candidate, betas.clone()), expected, "alpha_bars")
    alphas = 1 - betas
    shifted = torch.cat([torch.ones(1, dtype=betas.dtype), expected[:-1]])
    mistakes = [
        (alphas, "the alphas themselves: alpha_bar_t is the running product of alphas up to t"),
        (
            torch.cumsum(alphas, 0),
            "a running sum: alpha_bar_t is a running product (torch.cumprod)",
        ),
        (
            1 - torch.cumsum(betas, 0),
            "1 - cumsum(betas): that is only a first-order approximation of the product",
        ),
        (torch.cumprod(betas, 0), "the running product of the betas instead of the alphas"),
        (shifted, "alpha_bars shifted by one step (the product over i < t); include step t"),
        (expected.sqrt(), "the square root of the running product"),
    ]
    _compare(name, actual, expected, mistakes, what="alpha_bars")
    print(f"{name} passed")


def check_snr(candidate: Callable[[Tensor], Tensor]) -> None:
    """Check ``candidate(alpha_bars) -> snr`` with ``snr = alpha_bars / (1 - alpha_bars)``.

    The signal-to-noise ratio of ``x_t = sqrt(ab) x0 + sqrt(1 - ab) noise`` compares the
    variances of the two parts: ``ab / (1 - ab)`` (Kingma et al. 2021).
    """
    name = "check_snr"
    alpha_bars = NoiseSchedule.cosine(20).alpha_bars[:-1]  # the last value is ~0: skip it
    expected = alpha_bars / (1 - alpha_bars)
    actual = _as_tensor(name, call_reader(name, candidate, alpha_bars.clone()), expected, "the SNR")
    mistakes = [
        (
            1 / expected,
            "the noise-to-signal ratio (1 - alpha_bar) / alpha_bar: the signal goes on top",
        ),
        (
            expected.log(),
            "the log of the SNR; return the SNR itself (take the log when you plot it)",
        ),
        (
            expected.sqrt(),
            "a ratio of standard deviations, sqrt(alpha_bar / (1 - alpha_bar)); the SNR is a "
            "ratio of variances",
        ),
        (alpha_bars, "alpha_bar alone: divide by the noise variance 1 - alpha_bar"),
    ]
    _compare(name, actual, expected, mistakes, what="the SNR", rtol=1e-4)
    print(f"{name} passed")
