"""Checkers for the samplers chapter (Part V): sigma, an Euler step, a Heun step, EDM's sigmas.

Each checker calls the reader's function on a small fixed input, compares it with the
package's reference in :mod:`~ddpm_tutorial.ode_samplers` (the ODE ``d x_bar = eps d sigma``
in ``x_bar = x_t / sqrt(alpha_bar)`` and ``sigma = sqrt((1 - alpha_bar) / alpha_bar)``;
Karras et al. 2022, Table 1, Algorithm 1 and eq. 5), prints ``<name> passed``, or raises
``AssertionError`` with a sentence that says what differs. Where the reader's answer matches
a known mistake, the message names it: sigma as the variance ``(1 - alpha_bar) / alpha_bar``
or as ``sqrt(1 - alpha_bar)`` (the noise of ``x_t``, not of ``x_bar``), an Euler step taken on
``x_t`` without rescaling by ``sqrt(alpha_bar)``, Heun's correction at the last step (where
``sigma_next = 0`` must be a plain Euler step), ``rho`` with the wrong sign of the exponent,
and a list of sigmas without the final 0.

Steps are 0-based ints in [0, T); ``prev_step = -1`` stands for the clean image
(``alpha_bar = 1``, ``sigma = 0``), as in :func:`~ddpm_tutorial.reverse_process.ddim_step`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..ode_samplers import euler_step, heun_step, karras_sigmas, sigmas_of
from ..reverse_process import ddim_step
from ..schedules import NoiseSchedule
from ._common import StandInMisuse, as_tensor, call_reader, compare, fail, passed

__all__ = [
    "check_sigma_of_alpha_bar",
    "check_euler_step_in_sigma",
    "check_heun_step",
    "check_karras_sigmas",
]

_RTOL, _ATOL = 1e-5, 1e-7


def _randn(*shape: int, seed: int) -> Tensor:
    """A float64 standard normal tensor of the given shape, the same for the same seed."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------- sigma
_SIGMA_STEPS = (0, 10, 250, 500, 750, 999)


def check_sigma_of_alpha_bar(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(alpha_bar) -> sigma``, EDM's noise level of the DDPM schedule.

    ``sigma = sqrt((1 - alpha_bar) / alpha_bar)``, elementwise (Karras et al. 2022, Table 1,
    VP column: ``x_t / sqrt(alpha_bar) = x0 + sigma noise``). It is called with a float64
    tensor of shape (7,): the book's linear schedule at steps 0, 10, 250, 500, 750 and 999,
    and ``alpha_bar = 1`` (the clean image, ``sigma = 0``); it must return shape (7,).
    """
    name = "check_sigma_of_alpha_bar"
    table = NoiseSchedule.linear(1000).alpha_bars
    ab = torch.cat([table[list(_SIGMA_STEPS)], torch.ones(1, dtype=torch.float64)])
    expected = ((1 - ab) / ab).sqrt()
    actual = as_tensor(name, call_reader(name, candidate, ab.clone()), "sigma")
    if actual.numel() == expected.numel():
        actual = actual.reshape(expected.shape)
    mistakes = [
        (
            (1 - ab) / ab,
            "It is sigma^2 = (1 - alpha_bar) / alpha_bar, the variance of the noise in "
            "x_bar: sigma is its square root.",
        ),
        (
            (1 - ab).sqrt(),
            "It is sqrt(1 - alpha_bar), the standard deviation of the noise in x_t = "
            "sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) noise; sigma is the noise of x_bar = "
            "x_t / sqrt(alpha_bar), so divide by sqrt(alpha_bar).",
        ),
        (
            1 - ab,
            "It is 1 - alpha_bar, the variance of the noise in x_t; sigma is the standard "
            "deviation of the noise in x_bar = x_t / sqrt(alpha_bar).",
        ),
        (
            (ab / (1 - ab)).sqrt(),
            "It is upside down: sqrt(alpha_bar / (1 - alpha_bar)) = 1 / sigma is the square "
            "root of the signal-to-noise ratio.",
        ),
    ]
    compare(
        name,
        actual,
        expected,
        "sigma",
        mistakes=mistakes,
        reference="sqrt((1 - alpha_bar) / alpha_bar)",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- Euler
_EULER_CASES = ((999, 888), (500, 250), (120, 0), (40, -1))


def check_euler_step_in_sigma(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x_t, step, prev_step, eps_pred, schedule) -> x_prev``.

    One Euler step of ``d x_bar = eps d sigma`` (Song et al. 2021, eq. 14; Karras et al.
    2022, Algorithm 1 without lines 6-8), taken in ``x_bar = x_t / sqrt(alpha_bar_t)`` from
    ``sigma_t`` to ``sigma_prev`` and returned in ``x_t`` units:
    ``x_prev = sqrt(alpha_bar_prev) (x_t / sqrt(alpha_bar_t) + (sigma_prev - sigma_t)
    eps_pred)``. ``prev_step = -1`` is the clean image (``alpha_bar = 1``, ``sigma = 0``).
    The result must equal DDIM's step with ``eta = 0``. ``x_t`` and ``eps_pred`` are float64
    of shape (3, 1, 4, 4); a tuple whose first element is ``x_prev`` is accepted too.
    """
    name = "check_euler_step_in_sigma"
    schedule = NoiseSchedule.linear(1000)
    sigmas, ab = sigmas_of(schedule), schedule.alpha_bars
    x_t, eps = _randn(3, 1, 4, 4, seed=5), _randn(3, 1, 4, 4, seed=6)
    for step, prev in _EULER_CASES:
        expected, _ = ddim_step(x_t, step, prev, eps, schedule, eta=0.0)
        a_t = float(ab[step])
        a_p = float(ab[prev]) if prev >= 0 else 1.0
        s_t, s_p = float(sigmas[step]), float(sigmas[prev]) if prev >= 0 else 0.0
        x_bar = x_t / math.sqrt(a_t)
        x_bar_next = euler_step(x_bar, s_t, s_p, eps)
        assert torch.allclose(math.sqrt(a_p) * x_bar_next, expected, atol=1e-9)  # DDIM = Euler
        out = call_reader(name, candidate, x_t.clone(), step, prev, eps.clone(), schedule)
        actual = as_tensor(name, out, "x_prev", first_of_tuple=True)
        var_t, var_p = (1 - a_t) / a_t, (1 - a_p) / a_p
        std_t, std_p = math.sqrt(1 - a_t), math.sqrt(1 - a_p)
        mistakes = [
            (
                euler_step(x_t, s_t, s_p, eps),
                "It takes the Euler step on x_t itself. The ODE d x_bar = eps d sigma holds for "
                "x_bar = x_t / sqrt(alpha_bar_t): divide by sqrt(alpha_bar_t) first, step, then "
                "multiply by sqrt(alpha_bar_prev).",
            ),
            (
                x_bar_next,
                "It returns x_bar at prev_step; in x_t units x_prev = sqrt(alpha_bar_prev) x_bar.",
            ),
            (
                math.sqrt(a_t) * x_bar_next,
                "It rescales the result by sqrt(alpha_bar_t); x_prev belongs to prev_step: "
                "multiply by sqrt(alpha_bar_prev).",
            ),
            (
                math.sqrt(a_p) * euler_step(x_bar, var_t, var_p, eps),
                "It uses sigma^2 = (1 - alpha_bar) / alpha_bar, the variance, as the noise "
                "level: sigma is its square root.",
            ),
            (
                math.sqrt(a_p) * euler_step(x_bar, std_t, std_p, eps),
                "It uses sqrt(1 - alpha_bar) as the noise level, the noise of x_t; the noise of "
                "x_bar is sigma = sqrt((1 - alpha_bar) / alpha_bar).",
            ),
            (
                math.sqrt(a_p) * euler_step(x_bar, s_p, s_t, eps),
                "The step goes the wrong way: from sigma_t down to sigma_prev, x_bar changes by "
                "(sigma_prev - sigma_t) eps_pred.",
            ),
        ]
        compare(
            name,
            actual,
            expected,
            f"from step {step} to {prev}, your x_prev",
            mistakes=mistakes,
            reference="sqrt(alpha_bar_prev) (x_t / sqrt(alpha_bar_t) + (sigma_prev - sigma_t) "
            "eps_pred)",
            rtol=1e-4,
            atol=1e-6,
        )
    passed(name)


# ---------------------------------------------------------------------------- Heun
class RecordingSlope:
    """A stand-in for the ODE's slope ``d x_bar / d sigma`` that records where it is called.

    ``slope(x_bar, sigma)`` returns ``tanh(x_bar) (0.6 + 0.4 sin(3 sigma)) + 0.2 sigma``, the
    shape of ``x_bar``: it depends on both arguments, so a slope taken at the wrong point or
    the wrong sigma changes the result. At ``sigma = 0`` it raises: there the slope of the
    network's ODE, ``(x_bar - D(x_bar; sigma)) / sigma``, divides by zero.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Tensor, float]] = []

    @staticmethod
    def value(x_bar: Tensor, sigma: float) -> Tensor:
        """The slope at ``(x_bar, sigma)``, without recording the call."""
        return torch.tanh(x_bar) * (0.6 + 0.4 * math.sin(3 * sigma)) + 0.2 * sigma

    def __call__(self, x_bar: Tensor, sigma: Any) -> Tensor:
        sigma = float(sigma)
        if sigma == 0.0:
            raise StandInMisuse(
                "your step evaluated the slope at sigma = 0, where d x_bar / d sigma = (x_bar - "
                "D(x_bar; sigma)) / sigma divides by zero: when sigma_next = 0, take a plain "
                "Euler step (Karras et al. 2022, Algorithm 1, line 6)."
            )
        self.calls.append((x_bar.detach().clone(), sigma))
        return self.value(x_bar, sigma)


_HEUN_CASES = ((2.0, 1.2), (0.8, 0.3), (0.3, 0.0))


def check_heun_step(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(slope, x_bar, sigma, sigma_next) -> x_bar_next``: one Heun step.

    Karras et al. (2022), Algorithm 1, lines 4-8: ``d = slope(x_bar, sigma)``, the Euler point
    ``x_e = x_bar + (sigma_next - sigma) d``; unless ``sigma_next = 0``, ``d' = slope(x_e,
    sigma_next)`` and ``x_bar_next = x_bar + (sigma_next - sigma) (d + d') / 2``. ``slope`` is
    a stand-in for the network's ``d x_bar / d sigma`` (the predicted noise), called as
    ``slope(x_bar, sigma)``; it may be called twice per step, once when ``sigma_next = 0``.
    ``x_bar`` is float64 of shape (3, 2).
    """
    name = "check_heun_step"
    x_bar = _randn(3, 2, seed=7)
    f = RecordingSlope.value
    for sigma, sigma_next in _HEUN_CASES:
        h = sigma_next - sigma
        d = f(x_bar, sigma)
        x_e = euler_step(x_bar, sigma, sigma_next, d)
        expected = (
            x_e if sigma_next == 0 else heun_step(x_bar, sigma, sigma_next, d, f(x_e, sigma_next))
        )
        slope = RecordingSlope()
        out = call_reader(name, candidate, slope, x_bar.clone(), sigma, sigma_next)
        actual = as_tensor(name, out, "x_bar_next", first_of_tuple=True)
        where = f"from sigma = {sigma} to sigma_next = {sigma_next}, your x_bar_next"
        mistakes = []
        if sigma_next > 0:
            mistakes = [
                (
                    x_e,
                    "It is the Euler step alone: add Heun's correction, the mean of the slope at "
                    "x_bar and the slope at the Euler point (Algorithm 1, lines 7-8).",
                ),
                (
                    x_bar + h * f(x_e, sigma_next),
                    "It uses only the slope at the end of the Euler step; Heun's step uses the "
                    "mean of the two slopes.",
                ),
                (
                    x_bar + h * 0.5 * (d + f(x_bar, sigma_next)),
                    "It takes the second slope at the starting point x_bar; take it at the Euler "
                    "point x_bar + (sigma_next - sigma) d.",
                ),
                (
                    x_bar + h * 0.5 * (d + f(x_e, sigma)),
                    "It takes the second slope at the old sigma; the Euler point lies at "
                    "sigma_next.",
                ),
                (
                    x_bar - h * 0.5 * (d + f(x_e, sigma_next)),
                    "The step goes the wrong way: x_bar changes by (sigma_next - sigma) times the "
                    "mean slope, and sigma_next < sigma.",
                ),
            ]
        compare(
            name,
            actual,
            expected,
            where,
            mistakes=mistakes,
            reference="Algorithm 1 of Karras et al. (2022)",
            rtol=1e-6,
            atol=1e-9,
        )
        allowed = 1 if sigma_next == 0 else 2
        if len(slope.calls) > allowed:
            fail(
                name,
                f"{where} is right, but it called slope {len(slope.calls)} times; a Heun step "
                f"needs {allowed} (each call is a network evaluation: N steps cost 2 N - 1).",
            )
    passed(name)


# ---------------------------------------------------------------------------- EDM's sigmas
def _ramp(sigma_min: float, sigma_max: float, num_steps: int, inner: float, outer: float) -> Tensor:
    """``(sigma_max^inner + i / (N - 1) (sigma_min^inner - sigma_max^inner))^outer``, then 0."""
    i = torch.arange(num_steps, dtype=torch.float64) / (num_steps - 1)
    body = (sigma_max**inner + i * (sigma_min**inner - sigma_max**inner)) ** outer
    return torch.cat([body, torch.zeros(1, dtype=torch.float64)])


_KARRAS_CASES = ((0.002, 80.0, 10, 7.0), (0.01, 157.0, 6, 3.0), (0.05, 20.0, 5, 7.0))


def check_karras_sigmas(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(sigma_min, sigma_max, num_steps, rho) -> sigmas``: EDM's eq. 5.

    ``sigma_i = (sigma_max^(1/rho) + i / (N - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``
    for ``i = 0, ..., N - 1``, then ``sigma_N = 0`` (Karras et al. 2022, eq. 5): N + 1 values,
    decreasing from ``sigma_max`` through ``sigma_min`` to 0. Tried with ``N`` = 10, 6, 5 and
    ``rho`` = 7 and 3; a list or a tensor of shape (N + 1,) is accepted.
    """
    name = "check_karras_sigmas"
    for lo, hi, n, rho in _KARRAS_CASES:
        expected = karras_sigmas(lo, hi, n, rho)
        out = call_reader(name, candidate, lo, hi, n, rho)
        actual = as_tensor(name, out, "the sigmas").reshape(-1)
        i_over_n = torch.arange(n, dtype=torch.float64) / n
        by_n = torch.cat(
            [
                (hi ** (1 / rho) + i_over_n * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho,
                torch.zeros(1, dtype=torch.float64),
            ]
        )
        mistakes = [
            (
                expected[:-1],
                "It has N values and misses the final sigma_N = 0 (eq. 5): the sampler's last "
                "step goes to sigma = 0, where x_bar is the image.",
            ),
            (
                _ramp(lo, hi, n, -1 / rho, -rho),
                "The exponent has the wrong sign: with -1/rho inside and -rho outside the grid is "
                "even in sigma^(-1/rho) and crowds the steps toward sigma_min even more than an "
                "even grid in log sigma; eq. 5 interpolates sigma^(1/rho) and raises the result "
                "to the power rho.",
            ),
            (
                _ramp(lo, hi, n, rho, 1 / rho),
                "The exponents are swapped: raise sigma_min and sigma_max to 1/rho, interpolate, "
                "then raise the result to rho.",
            ),
            (
                _ramp(lo, hi, n, 1.0, 1.0),
                "It spaces sigma evenly, as rho = 1 would; interpolate sigma^(1/rho) and raise "
                "to the power rho.",
            ),
            (
                by_n,
                "It steps by i / N instead of i / (N - 1): its last nonzero sigma is not "
                "sigma_min.",
            ),
            (
                expected.flip(0),
                "It runs upward; a sampler starts at sigma_max and ends at 0.",
            ),
        ]
        compare(
            name,
            actual,
            expected,
            f"for sigma_min = {lo}, sigma_max = {hi}, N = {n}, rho = {rho}, your list of sigmas",
            mistakes=mistakes,
            reference="eq. 5 of Karras et al. (2022)",
            rtol=1e-5,
            atol=1e-9,
        )
    passed(name)
