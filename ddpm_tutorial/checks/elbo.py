"""Checkers for the DDPM chapter's math: the posterior, the Gaussian KL and the loss weight.

Each checker calls the reader's function on a small fixed input, compares the result with
the reference (Ho et al. 2020, eqs. 6-8 and 12), prints ``<name> passed``, or raises
``AssertionError`` with a sentence that names the difference, and, where the result matches
a common mistake, which mistake. Steps are 0-based as everywhere in the package: the code's
``t`` is the paper's ``t + 1``, so ``alpha_bars_prev[t]`` is the paper's
``alpha_bar_{t-1}`` and equals 1 at ``t = 0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..forward_process import posterior_mean_variance
from ..schedules import NoiseSchedule, gather_at
from ._common import as_tensor, call_reader, compare, fail, passed

__all__ = ["check_posterior_mean_variance", "check_gaussian_kl", "check_loss_weight"]

_RTOL, _ATOL = 1e-4, 1e-6


# ---------------------------------------------------------------------------- helpers
def _fixed_case() -> tuple[NoiseSchedule, Tensor, Tensor, Tensor]:
    """A linear schedule, a 4-image float64 batch, steps that include t = 0 and t = T - 1.

    float64, so that a correct formula passes however it is arranged: in float32,
    1 - alpha_bar_t at t = 0 (about 1e-4) keeps only three or four significant digits.
    """
    schedule = NoiseSchedule.linear(1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 3, 3, generator=g, dtype=torch.float64) * 2 - 1
    x_t = torch.randn(4, 1, 3, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 250, 999])
    return schedule, x0, x_t, t


# ---------------------------------------------------------------------------- posterior
def _wrong_only_at_t0(actual: Tensor, expected: Tensor, first: Tensor) -> bool:
    """Whether ``actual`` (B, ...) differs from ``expected`` exactly at the examples with t = 0.

    ``first`` is the (B,) bool mask of those examples.
    """
    bad = ~torch.isclose(actual, expected, rtol=_RTOL, atol=_ATOL).flatten(1).all(dim=1)
    return bool(bad[first].all()) and not bool(bad[~first].any())


def check_posterior_mean_variance(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x0, x_t, t, schedule) -> (mean, variance)`` against eqs. 6-7.

    ``x0`` and ``x_t`` have shape (4, 1, 3, 3) and ``t`` shape (4,), with t = 0 and
    t = T - 1 among the steps. ``mean`` must have the shape of ``x_t``; ``variance`` may have
    shape (B,), (B, 1, 1, 1) or the shape of ``x_t``.
    """
    name = "check_posterior_mean_variance"
    schedule, x0, x_t, t = _fixed_case()
    result = call_reader(name, candidate, x0.clone(), x_t.clone(), t.clone(), schedule)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(name, f"return a pair (mean, variance); got {type(result).__name__}")
    mean = as_tensor(name, result[0], "the mean")
    variance = as_tensor(name, result[1], "the variance")
    B = x_t.shape[0]
    if variance.ndim == 1 and variance.shape[0] == B:
        variance = variance.reshape(B, 1, 1, 1)
    try:
        variance = variance.expand(x_t.shape)
    except RuntimeError:
        fail(
            name,
            f"the variance must broadcast against x_t {tuple(x_t.shape)}: give it shape (B,), "
            f"(B, 1, 1, 1) or (B, C, H, W); got {tuple(variance.shape)}",
        )
    ref_mean, ref_var = posterior_mean_variance(x0, x_t, t, schedule)
    ref_var = ref_var.expand(x_t.shape)

    def at(values: Tensor) -> Tensor:
        return gather_at(values, t, like=x_t)

    beta, alpha = at(schedule.betas), at(schedule.alphas)
    ab, ab_prev = at(schedule.alpha_bars), at(schedule.alpha_bars_prev)
    X0, XT = x0, x_t
    first = t == 0

    if mean.shape == x_t.shape and _wrong_only_at_t0(mean, ref_mean, first):
        fail(
            name,
            "the posterior mean is right for t > 0 but wrong at t = 0: there alpha_bar_{t-1} "
            "must be 1 (x_{t-1} is the clean image); indexing alpha_bars[t - 1] wraps around "
            "to alpha_bars[-1]. Use schedule.alpha_bars_prev.",
        )
    mean_mistakes = [
        (
            (beta * ab.sqrt() * X0 + (1 - ab) * alpha.sqrt() * XT) / (1 - ab),
            "It matches the formula with alpha_bar_t where alpha_bar_{t-1} belongs "
            "(in sqrt(alpha_bar_{t-1}) and in 1 - alpha_bar_{t-1}).",
        ),
        (
            (beta * ab_prev * X0 + (1 - ab_prev) * alpha.sqrt() * XT) / (1 - ab),
            "It matches the formula without the square root on alpha_bar_{t-1} "
            "in the x0 coefficient.",
        ),
        (
            (beta * ab_prev.sqrt() * X0 + (1 - ab_prev) * alpha * XT) / (1 - ab),
            "It matches the formula without the square root on alpha_t in the x_t coefficient.",
        ),
        (
            (beta * ab_prev.sqrt() * XT + (1 - ab_prev) * alpha.sqrt() * X0) / (1 - ab),
            "It matches the formula with the x0 and x_t coefficients swapped.",
        ),
    ]
    compare(
        name,
        mean,
        ref_mean,
        "the posterior mean",
        mistakes=mean_mistakes,
        reference="eq. 7's mu_tilde(x_t, x0) = beta_t sqrt(alpha_bar_{t-1}) / (1 - alpha_bar_t) "
        "x0 + (1 - alpha_bar_{t-1}) sqrt(alpha_t) / (1 - alpha_bar_t) x_t",
        rtol=_RTOL,
        atol=_ATOL,
    )
    if _wrong_only_at_t0(variance, ref_var, first):
        fail(
            name,
            "the posterior variance is right for t > 0 but wrong at t = 0, where it must be 0: "
            "alpha_bar_{t-1} is 1 there (use schedule.alpha_bars_prev, not alpha_bars[t - 1], "
            "which wraps around).",
        )
    variance_mistakes = [
        (
            beta.expand(x_t.shape),
            "It equals beta_t, the variance of the forward step q(x_t | x_{t-1}); the "
            "posterior knows x0 as well, so its variance is smaller by the factor "
            "(1 - alpha_bar_{t-1}) / (1 - alpha_bar_t).",
        ),
        (
            ((1 - ab) / (1 - ab_prev).clamp(min=1e-300) * beta).expand(x_t.shape),
            "It matches the formula with its fraction upside down, "
            "(1 - alpha_bar_t) / (1 - alpha_bar_{t-1}) beta_t.",
        ),
        (
            ref_var.sqrt(),
            "It looks like a standard deviation (the square root of the variance).",
        ),
    ]
    compare(
        name,
        variance,
        ref_var,
        "the posterior variance",
        mistakes=variance_mistakes,
        reference="eq. 7's beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- Gaussian KL
def _reference_gaussian_kl(mean1: Tensor, var1: Tensor, mean2: Tensor, var2: Tensor) -> Tensor:
    """KL(N(mean1, var1) || N(mean2, var2)) per element, in nats."""
    return 0.5 * (var2.log() - var1.log() + (var1 + (mean1 - mean2) ** 2) / var2 - 1.0)


def check_gaussian_kl(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(mean1, var1, mean2, var2)``: KL(N(mean1, var1) || N(mean2, var2)).

    The four tensors have shape (3, 4); the KL is per element (that shape too), in nats, for
    Gaussians given by their means and *variances*.
    """
    name = "check_gaussian_kl"
    g = torch.Generator().manual_seed(1)
    mean1 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    mean2 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    var1 = 0.2 + 1.5 * torch.rand(3, 4, generator=g, dtype=torch.float64)
    var2 = 0.2 + 1.5 * torch.rand(3, 4, generator=g, dtype=torch.float64)
    expected = _reference_gaussian_kl(mean1, var1, mean2, var2)
    out = call_reader(name, candidate, mean1.clone(), var1.clone(), mean2.clone(), var2.clone())
    actual = as_tensor(name, out, "the KL")
    if actual.numel() == 1 and torch.isclose(actual.reshape(()), expected.sum(), rtol=_RTOL):
        fail(
            name,
            "gaussian_kl returned the sum over all elements; return the KL per element "
            f"(shape {tuple(expected.shape)}), and sum it where you need a total.",
        )
    mistakes = [
        (
            _reference_gaussian_kl(mean2, var2, mean1, var1),
            "It equals KL(N(mean2, var2) || N(mean1, var1)): the KL is not symmetric, and the "
            "first Gaussian is the one the expectation is taken under.",
        ),
        (
            _reference_gaussian_kl(mean1, var1**2, mean2, var2**2),
            "It matches the formula with the variances used as standard deviations "
            "(var1 and var2 are variances, sigma^2).",
        ),
        (2 * expected, "It is twice the KL: the formula has a factor 1/2 in front."),
        (expected + 0.5, "It misses the -1 inside the bracket (it is off by 1/2 everywhere)."),
        (
            expected - 0.5 * (var2.log() - var1.log()),
            "It misses the log-ratio of the variances, 1/2 log(var2 / var1).",
        ),
    ]
    compare(
        name,
        actual,
        expected,
        "the KL",
        mistakes=mistakes,
        reference="1/2 (log(var2 / var1) + (var1 + (mean1 - mean2)^2) / var2 - 1)",
        rtol=_RTOL,
        atol=_ATOL,
    )
    out = call_reader(name, candidate, mean1.clone(), var1.clone(), mean1.clone(), var1.clone())
    same = as_tensor(name, out, "the KL of a Gaussian with itself")
    compare(
        name, same, torch.zeros_like(expected), "the KL of a Gaussian with itself", reference="0"
    )
    passed(name)


# ---------------------------------------------------------------------------- loss weight
def _reference_loss_weight(t: Tensor, schedule: NoiseSchedule, variance: str) -> Tensor:
    """The weight of eq. 12 at steps ``t`` (B,), shape (B,)."""
    sigma2 = (schedule.posterior_variance if variance == "posterior" else schedule.betas)[t]
    return schedule.betas[t] ** 2 / (2 * sigma2 * schedule.alphas[t] * (1 - schedule.alpha_bars[t]))


def check_loss_weight(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(t, schedule, variance) -> (B,)``: the weight of eq. 12.

    ``L_{t-1} = weight_t * E || noise - eps_pred ||^2`` with
    ``weight_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))``, for
    ``variance="posterior"`` (sigma_t^2 = beta_tilde_t) and ``variance="beta"``
    (sigma_t^2 = beta_t); steps ``t`` of shape (6,) in [1, T) (at t = 0 the bound has the
    decoder term L_0 instead).
    """
    name = "check_loss_weight"
    schedule = NoiseSchedule.linear(1000)
    t = torch.tensor([1, 2, 10, 100, 500, 999])
    beta, alpha = schedule.betas[t], schedule.alphas[t]
    ab, ab_prev = schedule.alpha_bars[t], schedule.alpha_bars_prev[t]
    for variance in ("posterior", "beta"):
        expected = _reference_loss_weight(t, schedule, variance)
        what = f"the weight for variance={variance!r}"
        out = as_tensor(name, call_reader(name, candidate, t.clone(), schedule, variance), what)
        out = out.reshape(-1) if out.numel() == t.numel() else out
        sigma2 = schedule.posterior_variance[t] if variance == "posterior" else beta
        other = "beta" if variance == "posterior" else "posterior"
        mistakes = [
            (
                _reference_loss_weight(t, schedule, other),
                f"It is the weight for variance={other!r}: use the sigma_t^2 that the "
                "`variance` argument names.",
            ),
            (
                2 * expected,
                "It has no factor 2 in the denominator (the 1 / (2 sigma^2) of the Gaussian KL).",
            ),
            (
                beta**2 / (2 * sigma2 * alpha.sqrt() * (1 - ab)),
                "It matches sqrt(alpha_t) where alpha_t belongs: eq. 11's mean divides by "
                "sqrt(alpha_t), and the weight holds its square.",
            ),
            (
                beta**2 / (2 * sigma2 * alpha * (1 - ab_prev)),
                "It matches 1 - alpha_bar_{t-1} where 1 - alpha_bar_t belongs.",
            ),
            (
                beta / (2 * sigma2 * alpha * (1 - ab)),
                "It matches beta_t where beta_t^2 belongs in the numerator.",
            ),
        ]
        compare(
            name,
            out,
            expected,
            what,
            mistakes=mistakes,
            reference="beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))",
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)
