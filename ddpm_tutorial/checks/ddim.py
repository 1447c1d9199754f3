"""Checkers for the DDIM chapter: the sigma formula, one DDIM step, the step sequence, a loop.

Each checker calls the reader's function on a small fixed input, compares it with the
package's reference (:func:`~ddpm_tutorial.reverse_process.ddim_step`,
:func:`~ddpm_tutorial.reverse_process.ddim_timesteps`,
:func:`~ddpm_tutorial.reverse_process.sample_ddim`; Song et al. 2021, eqs. 12 and 16),
prints ``<name> passed``, or raises ``AssertionError`` with a sentence that says what differs
and, where the result matches a common mistake, which one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..reverse_process import ddim_step, ddim_timesteps, sample_ddim
from ..schedules import NoiseSchedule
from ._common import as_tensor, call_reader, compare, fail, passed

__all__ = ["check_ddim_sigma", "check_ddim_step", "check_ddim_timesteps", "check_ddim_sampler"]

_RTOL, _ATOL = 1e-4, 1e-5


# ---------------------------------------------------------------------------- sigma
def _reference_sigma(ab_t: Tensor, ab_prev: Tensor, eta: float) -> Tensor:
    """Song et al. eq. 16, elementwise over alpha bars of any (matching) shape."""
    return eta * ((1 - ab_prev) / (1 - ab_t)).sqrt() * (1 - ab_t / ab_prev).sqrt()


def check_ddim_sigma(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(alpha_bar_t, alpha_bar_prev, eta) -> sigma`` (Song et al. eq. 16).

    ``sigma = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t /
    alpha_bar_prev)``, elementwise over tensors of alpha bars of shape (5,) (the result too);
    ``alpha_bar_prev = 1`` for the final step to the clean image.
    """
    name = "check_ddim_sigma"
    schedule = NoiseSchedule.linear(1000)
    ab = schedule.alpha_bars
    pairs = [(999, 899), (500, 450), (100, 80), (10, 0)]
    ab_t = torch.stack([ab[s] for s, _ in pairs] + [ab[3]])
    ab_prev = torch.stack([ab[p] for _, p in pairs] + [torch.ones((), dtype=torch.float64)])
    ref1 = _reference_sigma(ab_t, ab_prev, 1.0)
    for eta in (0.0, 0.5, 1.0):
        expected = _reference_sigma(ab_t, ab_prev, eta)
        out = call_reader(name, candidate, ab_t.clone(), ab_prev.clone(), eta)
        actual = as_tensor(name, out, "sigma")
        if actual.numel() == expected.numel():
            actual = actual.reshape(expected.shape)
        mistakes = [
            (eta**2 * ref1, "It matches eta^2 where eta belongs: sigma is linear in eta."),
            (expected**2, "It looks like sigma^2, the variance: take the square root."),
            (
                eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)),
                "It misses the square root over the product of the two fractions.",
            ),
            (
                eta * ((1 - ab_t) / (1 - ab_prev)).sqrt() * (1 - ab_t / ab_prev).sqrt(),
                "The first fraction is upside down: it is (1 - alpha_bar_prev) / "
                "(1 - alpha_bar_t).",
            ),
            (
                eta**0.5 * ref1,
                "It matches sqrt(eta) where eta belongs: eta multiplies sigma, not sigma^2.",
            ),
        ]
        hint = (
            "It holds NaN: 1 - alpha_bar_prev / alpha_bar_t is negative; the ratio is "
            "alpha_bar_t / alpha_bar_prev (the later step over the earlier one)."
            if bool(torch.isnan(actual).any())
            else ""
        )
        compare(
            name,
            actual,
            expected,
            f"sigma for eta = {eta}",
            mistakes=mistakes,
            reference="eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) "
            "sqrt(1 - alpha_bar_t / alpha_bar_prev)",
            hint=hint,
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)


# ---------------------------------------------------------------------------- one step
_STEP_CASES = [  # (step, prev_step, eta)
    (999, 899, 0.0),
    (500, 480, 0.0),
    (500, 480, 0.6),
    (40, 0, 1.0),
    (20, -1, 0.0),
]


def check_ddim_step(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x_t, step, prev_step, eps_pred, schedule, eta=..., noise=...)``.

    ``x_t``, ``eps_pred`` and ``noise`` have shape (3, 1, 4, 4). It must return ``x_prev``
    (or a tuple whose first element is ``x_prev``), the DDIM update of Song et al. (2021,
    eq. 12) from ``step`` to ``prev_step`` (``-1`` means the clean image, where
    ``alpha_bar_prev = 1``), adding ``sigma * noise`` when ``eta > 0``.
    """
    name = "check_ddim_step"
    schedule = NoiseSchedule.linear(1000)
    g = torch.Generator().manual_seed(2)
    x_t, eps, noise = torch.randn(3, 3, 1, 4, 4, generator=g, dtype=torch.float64)
    ab = schedule.alpha_bars
    for step, prev, eta in _STEP_CASES:
        expected, x0_pred = ddim_step(x_t, step, prev, eps, schedule, eta=eta, noise=noise)
        out = call_reader(
            name,
            candidate,
            x_t.clone(),
            step,
            prev,
            eps.clone(),
            schedule,
            eta=eta,
            noise=noise.clone(),
        )
        actual = as_tensor(name, out, "x_prev", first_of_tuple=True)
        a_t = ab[step]
        a_p = ab[prev] if prev >= 0 else torch.tensor(1.0, dtype=torch.float64)
        E, Z = eps, noise
        sigma = _reference_sigma(a_t, a_p, eta)
        fresh = sigma * Z * (prev >= 0)
        mistakes = [
            (
                a_t.sqrt() * x0_pred + (1 - a_p - sigma**2).sqrt() * E + fresh,
                "It scales the predicted x0 by sqrt(alpha_bar_t); it needs sqrt(alpha_bar_prev), "
                "the signal level of the step you move to.",
            ),
            (
                a_p * x0_pred + (1 - a_p - sigma**2).sqrt() * E + fresh,
                "It misses the square root on alpha_bar_prev in front of the predicted x0.",
            ),
            (
                a_p.sqrt() * x0_pred + (1 - a_p).sqrt() * E + fresh,
                "Its direction term uses sqrt(1 - alpha_bar_prev) without subtracting sigma^2: "
                "the noise you add takes that share of the variance.",
            ),
            (
                a_p.sqrt() * x0_pred + (1 - a_p - sigma**2).sqrt() * E,
                "It adds no fresh noise: with eta > 0, add sigma * noise.",
            ),
        ]
        hint = (
            "At prev_step = -1 the update goes to the clean image: alpha_bar_prev must be 1 "
            "there, not alpha_bars[-1] (negative indexing wraps around to the noisiest step)."
            if prev == -1
            else ""
        )
        compare(
            name,
            actual,
            expected,
            f"x_prev from step {step} to prev_step {prev} with eta = {eta}",
            mistakes=mistakes,
            hint=hint,
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)


# ---------------------------------------------------------------------------- step sequence
def check_ddim_timesteps(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(num_train_steps, num_steps) -> list[int]`` against ``ddim_timesteps``.

    The list must hold ``num_steps`` ints, strictly decreasing, from ``T - 1`` (the step that
    training saw as pure noise) to 0, evenly spaced: ``linspace(0, T - 1, num_steps)``
    rounded, in reverse.
    """
    name = "check_ddim_timesteps"
    for T, K in [(1000, 10), (1000, 50), (1000, 7), (20, 6), (100, 100)]:
        expected = ddim_timesteps(T, K)
        call = f"ddim_timesteps({T}, {K})"
        raw = call_reader(name, candidate, T, K)
        try:
            actual = [int(s) for s in (raw.tolist() if isinstance(raw, Tensor) else raw)]
        except (TypeError, ValueError):
            fail(name, f"{call} must return a list of ints; got {raw!r:.80}")
        shown = actual if len(actual) <= 12 else actual[:5] + ["..."] + actual[-3:]
        if len(actual) != K:
            fail(name, f"{call} must return {K} steps; got {len(actual)}: {shown}")
        if any(a <= b for a, b in zip(actual[:-1], actual[1:], strict=True)):
            fail(
                name,
                f"{call} must be strictly decreasing (sampling runs from high noise to low); "
                f"got {shown}",
            )
        if actual[0] != T - 1:
            fail(
                name,
                f"{call} must start at T - 1 = {T - 1}, the step that training saw as (almost) "
                f"pure noise; yours starts at {actual[0]}"
                + (" (range(0, T, T // K) never reaches the top)" if actual[0] < T - 1 else ""),
            )
        if actual[-1] != 0:
            fail(
                name, f"{call} must end at step 0, the least noisy step; yours ends at {actual[-1]}"
            )
        if actual != expected:
            fail(
                name,
                f"{call} is not evenly spaced like linspace(0, T - 1, K) rounded: expected "
                f"{expected if K <= 12 else '...'}, got {shown}",
            )
    passed(name)


# ---------------------------------------------------------------------------- a sampling loop
class _RecordingDenoiser:
    """A tiny fixed 'denoiser' that remembers the steps it was called at.

    ``model(x_t, t)`` with ``x_t`` (B, ...) and ``t`` (B,) returns a noise prediction of the
    shape of ``x_t`` that depends on both.
    """

    def __init__(self, num_train_steps: int) -> None:
        self.T = num_train_steps
        self.calls: list[int] = []

    def __call__(self, x_t: Tensor, t: Tensor) -> Tensor:
        self.calls.append(int(t.reshape(-1)[0]))
        u = (t.to(x_t.dtype) / self.T).reshape(-1, *([1] * (x_t.ndim - 1)))
        return torch.tanh(0.8 * x_t) * (0.5 + u) + 0.1 * u


def check_ddim_sampler(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(model, schedule, x_T, num_steps) -> x0``: deterministic DDIM (eta = 0).

    ``x_T`` has shape (2, 1, 3, 3), and so must the result. The loop must visit
    ``ddim_timesteps(T, num_steps)`` and step from each entry to the next one in that list
    (to -1 after the last), as :func:`sample_ddim` does.
    """
    name = "check_ddim_sampler"
    T, K = 20, 6
    schedule = NoiseSchedule.linear(T)
    x_T = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    expected_steps = ddim_timesteps(T, K)
    reference = sample_ddim(
        _RecordingDenoiser(T), schedule, x_T.shape, num_steps=K, x_T=x_T.clone()
    )
    model = _RecordingDenoiser(T)
    out = call_reader(name, candidate, model, schedule, x_T.clone(), K)
    actual = as_tensor(name, out, "the sample", first_of_tuple=True)
    if model.calls != expected_steps:
        fail(
            name,
            f"with T = {T} and num_steps = {K} the model must be called at steps "
            f"{expected_steps} (ddim_timesteps); yours was called at {model.calls}",
        )
    # the classic slip: right steps, but the update goes to step - T // K, not to the next one
    stride = T // K
    x = x_T.clone()
    for step in expected_steps:
        eps = _RecordingDenoiser(T)(x, torch.full((x.shape[0],), step))
        x, _ = ddim_step(x, step, max(step - stride, -1), eps, schedule)
    slip = (
        f"It matches a loop that moves from each step to step - T // K = step - {stride}: "
        f"that lands between the list's steps (from {expected_steps[0]} it goes to "
        f"{expected_steps[0] - stride}, but the next step visited is {expected_steps[1]}). "
        "Take prev_step from the list: steps[i + 1], and -1 after the last."
    )
    compare(
        name,
        actual,
        reference,
        "the sample of your sampler (which visits the right steps)",
        mistakes=[(x, slip)],
        reference="sample_ddim(..., eta=0)",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)
