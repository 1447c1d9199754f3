"""Checkers for the exercises on the reverse process and the denoise module (Part I).

Every checker runs the reader's function on a small fixed input (a schedule of 8 steps, a
few 3x3 or 4x4 images, a tiny deterministic "noise predictor"), compares it with the
package's reference (:func:`~ddpm_tutorial.reverse_process.ddpm_step`,
:func:`~ddpm_tutorial.reverse_process.sample_ddpm`,
:func:`~ddpm_tutorial.parameterizations.x0_from_noise`, ...), prints ``<name> passed``, or
raises ``AssertionError`` with a sentence that says what differs. Where the reader's answer
matches a known mistake (a missing square root, ``alpha`` for ``alpha_bar``, noise added at
the last step, steps counted upward), the message names that mistake.

Conventions (as everywhere in the package): steps are 0-based ints in [0, T), ``step = 0`` is
the last, least noisy step; a denoiser is called as ``model(x_t, t)`` with ``t`` an int64
tensor of shape (B,).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..forward_process import add_noise
from ..parameterizations import x0_from_noise
from ..reverse_process import ddpm_step, sample_ddpm
from ..schedules import NoiseSchedule
from ._common import (
    Mistake,
    StandInMisuse,
    as_scalar,
    as_tensor,
    call_reader,
    close,
    compare,
    fail,
    passed,
)

__all__ = [
    "check_step_order",
    "check_x0_from_noise",
    "check_sampling_loop",
    "check_denoise_step",
    "check_no_noise_at_last_step",
    "check_sigma_choice",
    "check_noise_error",
]

_T = 8  # steps of the checkers' schedule: small, with alphas far from alpha_bars
_RTOL, _ATOL = 1e-4, 1e-5


# ---------------------------------------------------------------------------- fixtures
def _schedule() -> NoiseSchedule:
    """A short schedule whose betas are large, so that every mix-up changes the numbers."""
    return NoiseSchedule.from_betas(torch.linspace(0.05, 0.4, _T, dtype=torch.float64))


class RecordingDenoiser:
    """A tiny deterministic noise predictor that also records the steps it is called with.

    ``model(x_t, t)`` takes ``x_t`` (B, ...) and ``t`` int64 (B,) and returns
    ``eps_pred = tanh(x_t) * (t + 1) / T + 0.1 cos(7 (t + 1) / T)``, shape of ``x_t``: it
    depends on both the image and the step, so telling it the wrong step changes the result.
    """

    def __init__(self, num_steps: int = _T) -> None:
        self.num_steps = num_steps
        self.calls: list[list[int]] = []

    def __call__(self, x_t: Tensor, t: Tensor, *args: Any) -> Tensor:
        if not isinstance(t, Tensor) or t.dtype != torch.long or t.shape != (x_t.shape[0],):
            got = (
                f"{t.dtype} tensor of shape {tuple(t.shape)}" if isinstance(t, Tensor) else repr(t)
            )
            raise StandInMisuse(
                f"the model must be called as model(x_t, t) with t an int64 tensor of shape "
                f"({x_t.shape[0]},), one step per image; it got t = {got}. "
                "Build it with torch.full((B,), step, dtype=torch.long)."
            )
        self.calls.append([int(s) for s in t])
        scale = ((t.to(x_t.dtype) + 1) / self.num_steps).reshape(-1, *([1] * (x_t.ndim - 1)))
        return torch.tanh(x_t) * scale + 0.1 * torch.cos(7 * scale)


def _randn(*shape: int, seed: int) -> Tensor:
    """A standard normal float32 tensor of the given shape, the same for the same seed."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _coefs(schedule: NoiseSchedule, step: int) -> dict[str, float]:
    """The schedule's numbers at one step, as Python floats."""
    return {
        "beta": float(schedule.betas[step]),
        "alpha": float(schedule.alphas[step]),
        "alpha_bar": float(schedule.alpha_bars[step]),
        "posterior_variance": float(schedule.posterior_variance[step]),
    }


# ---------------------------------------------------------------------------- chapter 1
_STEP_ORDER_CASES = (10, 1000, 1)
"""The T tried by :func:`check_step_order`: a plain case first, the edge case T = 1 last."""


def check_step_order(steps_or_fn: Callable[[int], Sequence[int]] | Sequence[int]) -> None:
    """Check the order in which the reverse process visits the steps: T - 1 down to 0.

    Args:
        steps_or_fn: a function ``fn(T)`` returning the steps for a schedule of T steps, in
            the order the sampler visits them (it is tried with T = 10, then 1000, then the
            edge case T = 1); or that list itself for T = 1000.
    """
    name = "check_step_order"
    cases = _STEP_ORDER_CASES if callable(steps_or_fn) else (1000,)
    for T in cases:
        raw = call_reader(name, steps_or_fn, T) if callable(steps_or_fn) else steps_or_fn
        try:
            steps = [int(s) for s in raw]
        except (TypeError, ValueError):
            fail(name, f"the steps must be a sequence of ints; got {raw!r:.80}")
        expected = list(range(T - 1, -1, -1))
        if steps == expected:
            continue
        where = f"for T = {T}, your steps begin {steps[:4]}"
        if steps == expected[::-1]:
            fail(
                name,
                f"{where}: they go upward. The reverse process starts at the noisiest step, "
                f"T - 1 = {T - 1}, and goes down to 0.",
            )
        if steps == list(range(T, 0, -1)):
            fail(
                name,
                f"{where}: they count from T = {T} down to 1, as the paper does. In the code "
                f"steps are 0-based indices into the schedule: {T - 1} down to 0.",
            )
        if len(steps) != T:
            fail(
                name,
                f"{where} and hold {len(steps)} steps; the reverse process takes exactly T = {T}.",
            )
        i = next(k for k, (a, b) in enumerate(zip(steps, expected, strict=True)) if a != b)
        fail(name, f"{where}: position {i} holds step {steps[i]}, expected {expected[i]}.")
    passed(name)


def check_x0_from_noise(fn: Callable[[Tensor, Tensor, Tensor, NoiseSchedule], Tensor]) -> None:
    """Check ``fn(x_t, t, eps_pred, schedule)``, the clean image implied by a noise prediction.

    ``x_t`` and ``eps_pred`` have shape (4, 1, 3, 3), ``t`` shape (4,); so must the result.
    Reference: ``x0_pred = (x_t - sqrt(1 - alpha_bars[t]) eps_pred) / sqrt(alpha_bars[t])``.
    """
    name = "check_x0_from_noise"
    schedule = _schedule()
    x_t, eps_pred = _randn(4, 1, 3, 3, seed=1), _randn(4, 1, 3, 3, seed=2)
    t = torch.tensor([7, 5, 2, 0])
    expected = x0_from_noise(x_t, t, eps_pred, schedule)
    out = call_reader(name, fn, x_t.clone(), t.clone(), eps_pred.clone(), schedule)
    actual = as_tensor(name, out, "x0_pred", first_of_tuple=True)

    ab = schedule.alpha_bars[t].float().reshape(-1, 1, 1, 1)
    a = schedule.alphas[t].float().reshape(-1, 1, 1, 1)
    mistakes = [
        (
            (x_t - (1 - a).sqrt() * eps_pred) / a.sqrt(),
            "It looks like you used alphas[t] where alpha_bars[t] belongs (x_t holds the noise "
            "of all steps up to t, so the coefficients are the cumulative alpha_bar).",
        ),
        (
            (x_t - (1 - ab) * eps_pred) / ab,
            "A square root is missing: x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar).",
        ),
        (
            (x_t - (1 - ab).sqrt() * eps_pred) / ab,
            "The square root on alpha_bar in the denominator is missing.",
        ),
        (
            (x_t + (1 - ab).sqrt() * eps_pred) / ab.sqrt(),
            "The noise is added instead of subtracted.",
        ),
        (x_t - (1 - ab).sqrt() * eps_pred, "The division by sqrt(alpha_bar) is missing."),
    ]
    compare(name, actual, expected, "x0_pred", mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)


def check_sampling_loop(fn: Callable[..., Tensor]) -> None:
    """Check a reader's reverse-process loop ``fn(model, schedule, shape, generator)``.

    It must draw ``x_T`` with ``torch.randn(shape, generator=generator)`` (``shape`` is
    (3, 1, 4, 4)), then call the model once per step from T - 1 down to 0 and take a DDPM
    step (e.g. with :func:`~ddpm_tutorial.reverse_process.ddpm_step`, passing the same
    generator), and return the final images, of shape ``shape``. The result is compared with
    :func:`sample_ddpm` on a tiny model.
    """
    name = "check_sampling_loop"
    schedule, shape = _schedule(), (3, 1, 4, 4)
    expected = sample_ddpm(
        RecordingDenoiser(), schedule, shape, generator=torch.Generator().manual_seed(0)
    )
    model = RecordingDenoiser()
    with torch.no_grad():
        out = call_reader(name, fn, model, schedule, shape, torch.Generator().manual_seed(0))
    actual = as_tensor(name, out, "the output of your loop", first_of_tuple=True)

    called = [c[0] for c in model.calls]
    want = list(range(_T - 1, -1, -1))
    if any(len(set(c)) != 1 for c in model.calls):
        fail(name, "at each step, every image of the batch must get the same step number")
    if called != want:
        if called == want[::-1]:
            why = "they go upward; the reverse process goes from T - 1 down to 0"
        elif called == list(range(_T, 0, -1)):
            why = "they are the paper's 1-based t; the model is trained on 0-based steps T-1..0"
        elif len(called) != _T:
            why = (
                f"the model was called {len(called)} times; it must be called once per step, "
                f"T = {_T} times"
            )
        else:
            why = f"expected {want}"
        fail(name, f"your loop called the model with steps {called}: {why}.")
    compare(
        name,
        actual,
        expected,
        "the output of your loop",
        hint="The steps are right, so look at the randomness and the update: draw x_T first "
        "with torch.randn(shape, generator=generator), pass the same generator to every "
        "ddpm_step (which adds no noise at step 0), and feed each step's output into the next.",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- chapter 2
def _step_mistakes(
    x_t: Tensor, step: int, eps: Tensor, noise: Tensor, schedule: NoiseSchedule, variance: str
) -> tuple[Tensor, list[Mistake]]:
    """The reference x_{t-1} and the results of the usual mistakes at one step, shape of x_t."""
    c = _coefs(schedule, step)
    beta, alpha, ab = c["beta"], c["alpha"], c["alpha_bar"]
    mean = (x_t - beta / (1 - ab) ** 0.5 * eps) / alpha**0.5
    var = beta if variance == "beta" else c["posterior_variance"]
    other = c["posterior_variance"] if variance == "beta" else beta
    other_name = "posterior" if variance == "beta" else "beta"
    expected = ddpm_step(x_t, step, eps, schedule, variance=variance, noise=noise)[0]
    last = step == 0

    def noisy(m: Tensor, v: float) -> Tensor:
        return m if last else m + v**0.5 * noise

    mistakes: list[Mistake] = [
        (
            noisy((x_t - beta / (1 - ab) ** 0.5 * eps) / alpha, var),
            "The square root on alpha_t is missing: divide by sqrt(alpha_t), not alpha_t.",
        ),
        (
            noisy((x_t - beta / (1 - alpha) ** 0.5 * eps) / alpha**0.5, var),
            "It looks like you used alpha_t where alpha_bar_t belongs in the noise coefficient "
            "beta_t / sqrt(1 - alpha_bar_t).",
        ),
        (
            noisy((x_t - beta / (1 - ab) * eps) / alpha**0.5, var),
            "The square root in beta_t / sqrt(1 - alpha_bar_t) is missing.",
        ),
        (
            noisy((x_t + beta / (1 - ab) ** 0.5 * eps) / alpha**0.5, var),
            "The predicted noise is added instead of subtracted.",
        ),
        (
            noisy(mean, other),
            f"It looks like you used the {other_name} variance for sigma_t^2; this check asks "
            f"for variance={variance!r}.",
        ),
    ]
    if last:
        mistakes += [
            (
                mean + var**0.5 * noise,
                "Noise was added at the last step (step 0); it must return the mean alone.",
            ),
            (
                mean + other**0.5 * noise,
                "Noise was added at the last step (step 0), with the other variance.",
            ),
        ]
    else:
        mistakes += [
            (
                mean + var * noise,
                "The noise is scaled by the variance sigma_t^2, not the standard deviation "
                "sigma_t.",
            ),
            (mean, "No fresh noise was added; every step but the last adds sigma_t z."),
        ]
    return expected, mistakes


def check_denoise_step(
    fn: Callable[[Tensor, int, Tensor, NoiseSchedule, Tensor], Tensor], *, variance: str = "beta"
) -> None:
    """Check one DDPM step ``fn(x_t, step, eps_pred, schedule, noise) -> x_{t-1}``.

    ``x_t``, ``eps_pred`` and ``noise`` have shape (2, 1, 3, 3), ``step`` is an int.
    Reference (Ho et al. 2020, eq. 11 and Algorithm 2):
    ``x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_pred) / sqrt(alpha_t) + sigma_t z``
    with ``z = noise``, ``sigma_t^2 = beta_t`` (``variance="beta"``) or the posterior variance
    (``variance="posterior"``), and no noise at ``step = 0``. The function may also return a
    tuple whose first item is ``x_{t-1}``, as :func:`ddpm_step` does.
    """
    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' or 'posterior'; got {variance!r}")
    name = "check_denoise_step"
    schedule = _schedule()
    for k, step in enumerate((7, 4, 1, 0)):
        x_t, eps = _randn(2, 1, 3, 3, seed=10 + k), _randn(2, 1, 3, 3, seed=20 + k)
        noise = _randn(2, 1, 3, 3, seed=30 + k)
        expected, mistakes = _step_mistakes(x_t, step, eps, noise, schedule, variance)
        out = call_reader(name, fn, x_t.clone(), step, eps.clone(), schedule, noise.clone())
        what = f"at step {step}, your x_{{t-1}}"
        actual = as_tensor(name, out, what, first_of_tuple=True)
        compare(name, actual, expected, what, mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)


def check_no_noise_at_last_step(
    fn: Callable[[Tensor, int, Tensor, NoiseSchedule, Tensor], Tensor],
) -> None:
    """Check that a step ``fn(x_t, step, eps_pred, schedule, noise)`` adds noise except at step 0.

    ``x_t``, ``eps_pred`` and ``noise`` have shape (2, 1, 3, 3). At ``step = 0`` the output
    must not depend on ``noise`` (it is the final image); at every other step it must (the
    sampler adds ``sigma_t z``).
    """
    name = "check_no_noise_at_last_step"
    schedule = _schedule()
    x_t, eps = _randn(2, 1, 3, 3, seed=40), _randn(2, 1, 3, 3, seed=41)
    z1, z2 = _randn(2, 1, 3, 3, seed=42), _randn(2, 1, 3, 3, seed=43)

    def run(step: int, z: Tensor) -> Tensor:
        out = call_reader(name, fn, x_t.clone(), step, eps.clone(), schedule, z.clone())
        return as_tensor(name, out, f"your output at step {step}", first_of_tuple=True)

    for step in (0, 3):
        same = close(run(step, z1), run(step, z2), _RTOL, _ATOL)
        if step == 0 and not same:
            fail(
                name,
                "at step 0 your output changes when the noise changes: the last step must return "
                "the mean alone, or every final image keeps a last speck of noise.",
            )
        if step > 0 and same:
            fail(
                name,
                f"at step {step} your output ignores the noise: every step but the last adds "
                "sigma_t z, with z the fresh noise passed in.",
            )
    expected = ddpm_step(x_t, 0, eps, schedule)[0]
    what = "at step 0, your output (the mean of eq. 11)"
    compare(name, run(0, z1), expected, what, rtol=_RTOL, atol=_ATOL)
    passed(name)


def check_sigma_choice(fn: Callable[[NoiseSchedule, str], Tensor]) -> None:
    """Check ``fn(schedule, variance) -> sigma`` of shape (T,), the noise scale of each step.

    ``variance="beta"``: ``sigma_t = sqrt(beta_t)``; ``variance="posterior"``:
    ``sigma_t = sqrt(beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t))`` with
    ``alpha_bar_{-1} = 1`` (Ho et al. 2020, section 3.2; in the schedule, ``alpha_bars_prev``).
    """
    name = "check_sigma_choice"
    schedule = _schedule()
    reference = {"beta": schedule.betas.sqrt(), "posterior": schedule.posterior_variance.sqrt()}
    for variance, expected in reference.items():
        what = f"for variance={variance!r}, your sigma (one value per step)"
        actual = as_tensor(name, call_reader(name, fn, schedule, variance), what)
        mistakes: list[Mistake] = [
            (
                expected**2,
                "You returned the variance sigma_t^2, not the standard deviation sigma_t.",
            )
        ]
        if variance == "beta":
            mistakes.append(
                (
                    reference["posterior"],
                    "You returned the posterior choice; variance='beta' means "
                    "sigma_t = sqrt(beta_t).",
                )
            )
        else:
            mistakes += [
                (
                    reference["beta"],
                    "You returned sqrt(beta_t): either the other choice, or the posterior "
                    "variance computed with alpha_bar_t where alpha_bar_{t-1} belongs "
                    "(alpha_bars_prev).",
                ),
                (
                    ((1 - schedule.alpha_bars_prev) / (1 - schedule.alpha_bars)).sqrt(),
                    "The posterior variance is missing its factor beta_t.",
                ),
            ]
        compare(name, actual, expected, what, mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)


def check_noise_error(fn: Callable[..., Any]) -> None:
    """Check ``fn(model, x0, noise, true_step, claimed_step, schedule) -> float``.

    ``x0`` and ``noise`` have shape (4, 1, 3, 3) and the steps are ints. The reference
    noises ``x0`` to ``true_step`` with ``noise`` (Ho et al. 2020, eq. 4), asks the model for
    the noise while telling it ``claimed_step``, and returns the mean over all pixels of
    ``(eps_pred - noise)^2``.
    """
    name = "check_noise_error"
    schedule = _schedule()
    x0 = _randn(4, 1, 3, 3, seed=50).clamp(-1, 1)
    noise = _randn(4, 1, 3, 3, seed=51)

    def error(
        true: int,
        claimed: int,
        *,
        noised_at: int | None = None,
        told: int | None = None,
        reduce: str = "mean",
        target: Tensor | None = None,
    ) -> float:
        B = x0.shape[0]
        x_t = add_noise(
            x0, torch.full((B,), noised_at if noised_at is not None else true), noise, schedule
        )
        eps = RecordingDenoiser()(x_t, torch.full((B,), told if told is not None else claimed))
        sq = (eps - (noise if target is None else target)) ** 2
        return {"mean": sq.mean(), "sum": sq.sum(), "rms": sq.mean().sqrt()}[reduce].item()

    for true, claimed in ((5, 5), (5, 1), (2, 6)):
        args = (RecordingDenoiser(), x0.clone(), noise.clone(), true, claimed, schedule)
        with torch.no_grad():
            out = call_reader(name, fn, *args)
        what = f"for true step {true} and claimed step {claimed}, your error"
        mistakes = [
            (
                error(true, claimed, noised_at=claimed),
                "You noised the image at the claimed step; the image is noised at the true "
                "step, only the model is told the claimed one.",
            ),
            (
                error(true, claimed, told=true),
                "You told the model the true step; tell it the claimed step.",
            ),
            (
                error(true, claimed, reduce="sum"),
                "You summed the squared errors; take their mean over all pixels.",
            ),
            (
                error(true, claimed, reduce="rms"),
                "You took the square root (an RMS); return the mean squared error.",
            ),
            (
                error(true, claimed, target=x0),
                "You compared the prediction with the clean image; compare it with the noise.",
            ),
        ]
        actual = as_scalar(name, out, what)
        compare(
            name, actual, torch.tensor(error(true, claimed)), what, mistakes=mistakes, rtol=1e-4
        )
    passed(name)
