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


# ---------------------------------------------------------------------------- fixtures
def _schedule() -> NoiseSchedule:
    """A short schedule whose betas are large, so that every mix-up changes the numbers."""
    return NoiseSchedule.from_betas(torch.linspace(0.05, 0.4, _T, dtype=torch.float64))


class RecordingDenoiser:
    """A tiny deterministic noise predictor that also records the steps it is called with.

    ``eps_pred = tanh(x_t) * (t + 1) / T + 0.1 cos(7 (t + 1) / T)``: it depends on both the
    image and the step, so telling it the wrong step changes the result.
    """

    def __init__(self, num_steps: int = _T) -> None:
        self.num_steps = num_steps
        self.calls: list[list[int]] = []

    def __call__(self, x_t: Tensor, t: Tensor, *args: Any) -> Tensor:
        if not isinstance(t, Tensor) or t.dtype != torch.long or t.shape != (x_t.shape[0],):
            got = (
                f"{t.dtype} tensor of shape {tuple(t.shape)}" if isinstance(t, Tensor) else repr(t)
            )
            raise AssertionError(
                f"the model must be called as model(x_t, t) with t an int64 tensor of shape "
                f"({x_t.shape[0]},), one step per image; it got t = {got}. "
                "Build it with torch.full((B,), step, dtype=torch.long)."
            )
        self.calls.append([int(s) for s in t])
        scale = ((t.to(x_t.dtype) + 1) / self.num_steps).reshape(-1, *([1] * (x_t.ndim - 1)))
        return torch.tanh(x_t) * scale + 0.1 * torch.cos(7 * scale)


def _randn(*shape: int, seed: int) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _first_tensor(value: Any, what: str) -> Tensor:
    """Accept a tensor, or a tuple whose first item is one (as ``ddpm_step`` returns)."""
    if isinstance(value, tuple) and value and isinstance(value[0], Tensor):
        value = value[0]
    if not isinstance(value, Tensor):
        raise AssertionError(
            f"{what} must return a torch.Tensor; it returned {type(value).__name__}"
        )
    return value


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-5))


def _which_mistake(actual: Tensor, mistakes: dict[str, Tensor]) -> str:
    """The description of the first known mistake that ``actual`` reproduces, or ''."""
    for description, wrong in mistakes.items():
        if _close(actual, wrong):
            return f" It looks like {description}."
    return ""


def _compare(
    actual: Tensor,
    expected: Tensor,
    what: str,
    mistakes: dict[str, Tensor] | None = None,
    hint: str = "",
) -> None:
    if actual.shape != expected.shape:
        raise AssertionError(
            f"{what} has shape {tuple(actual.shape)}; expected {tuple(expected.shape)}"
        )
    if _close(actual, expected):
        return
    diagnosis = _which_mistake(actual, mistakes or {})
    worst = (actual.double() - expected.double()).abs().max().item()
    raise AssertionError(
        f"{what} differs from the reference (largest difference {worst:.3g}).{diagnosis or hint}"
    )


def _coefs(schedule: NoiseSchedule, step: int) -> dict[str, float]:
    return {
        "beta": float(schedule.betas[step]),
        "alpha": float(schedule.alphas[step]),
        "alpha_bar": float(schedule.alpha_bars[step]),
        "posterior_variance": float(schedule.posterior_variance[step]),
    }


# ---------------------------------------------------------------------------- chapter 1
def check_step_order(steps_or_fn: Callable[[int], Sequence[int]] | Sequence[int]) -> None:
    """Check the order in which the reverse process visits the steps.

    Args:
        steps_or_fn: a function ``fn(T)`` returning the steps for a schedule of T steps, in
            the order the sampler visits them; or that list itself for T = 1000.
    """
    cases = (1, 5, 1000) if callable(steps_or_fn) else (1000,)
    for T in cases:
        raw = steps_or_fn(T) if callable(steps_or_fn) else steps_or_fn
        try:
            steps = [int(s) for s in raw]
        except (TypeError, ValueError) as err:
            raise AssertionError(f"the steps must be a sequence of ints; got {raw!r:.80}") from err
        expected = list(range(T - 1, -1, -1))
        if steps == expected:
            continue
        where = f"for T = {T}, your steps begin {steps[:4]}"
        if steps == expected[::-1]:
            msg = (
                f"{where}: they go upward. The reverse process starts at the noisiest step, "
                f"T - 1 = {T - 1}, and goes down to 0."
            )
        elif steps == list(range(T, 0, -1)):
            msg = (
                f"{where}: they count from T = {T} down to 1, as the paper does. In the code "
                f"steps are 0-based indices into the schedule: {T - 1} down to 0."
            )
        elif len(steps) != T:
            msg = f"{where} and hold {len(steps)} steps; the reverse process takes exactly T = {T}."
        else:
            i = next(k for k, (a, b) in enumerate(zip(steps, expected, strict=True)) if a != b)
            msg = f"{where}: position {i} holds step {steps[i]}, expected {expected[i]}."
        raise AssertionError(msg)
    print("check_step_order passed")


def check_x0_from_noise(fn: Callable[[Tensor, Tensor, Tensor, NoiseSchedule], Tensor]) -> None:
    """Check ``fn(x_t, t, eps_pred, schedule)``, the clean image implied by a noise prediction.

    Reference: ``x0_pred = (x_t - sqrt(1 - alpha_bars[t]) eps_pred) / sqrt(alpha_bars[t])``.
    """
    schedule = _schedule()
    x_t, eps_pred = _randn(4, 1, 3, 3, seed=1), _randn(4, 1, 3, 3, seed=2)
    t = torch.tensor([7, 5, 2, 0])
    expected = x0_from_noise(x_t, t, eps_pred, schedule)
    actual = _first_tensor(fn(x_t.clone(), t.clone(), eps_pred.clone(), schedule), "your function")

    ab = schedule.alpha_bars[t].float().reshape(-1, 1, 1, 1)
    a = schedule.alphas[t].float().reshape(-1, 1, 1, 1)
    mistakes = {
        "you used alphas[t] where alpha_bars[t] belongs (x_t holds the noise of all steps "
        "up to t, so the coefficients are the cumulative alpha_bar)": (
            x_t - (1 - a).sqrt() * eps_pred
        )
        / a.sqrt(),
        "a square root is missing: x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)": (
            x_t - (1 - ab) * eps_pred
        )
        / ab,
        "the square root on alpha_bar in the denominator is missing": (
            x_t - (1 - ab).sqrt() * eps_pred
        )
        / ab,
        "the noise is added instead of subtracted": (x_t + (1 - ab).sqrt() * eps_pred) / ab.sqrt(),
        "the division by sqrt(alpha_bar) is missing": x_t - (1 - ab).sqrt() * eps_pred,
    }
    _compare(actual, expected, "x0_pred", mistakes)
    print("check_x0_from_noise passed")


def check_sampling_loop(fn: Callable[..., Tensor]) -> None:
    """Check a reader's reverse-process loop ``fn(model, schedule, shape, generator)``.

    It must draw ``x_T`` with ``torch.randn(shape, generator=generator)``, then call the model
    once per step from T - 1 down to 0 and take a DDPM step (e.g. with
    :func:`~ddpm_tutorial.reverse_process.ddpm_step`, passing the same generator), and return
    the final images. The result is compared with :func:`sample_ddpm` on a tiny model.
    """
    schedule, shape = _schedule(), (3, 1, 4, 4)
    expected = sample_ddpm(
        RecordingDenoiser(), schedule, shape, generator=torch.Generator().manual_seed(0)
    )
    model = RecordingDenoiser()
    with torch.no_grad():
        out = fn(model, schedule, shape, torch.Generator().manual_seed(0))
    actual = _first_tensor(out, "your sampling loop")

    called = [c[0] for c in model.calls]
    want = list(range(_T - 1, -1, -1))
    if any(len(set(c)) != 1 for c in model.calls):
        raise AssertionError("at each step, every image of the batch must get the same step number")
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
        raise AssertionError(f"your loop called the model with steps {called}: {why}.")
    _compare(
        actual,
        expected,
        "the output of your loop",
        hint=" The steps are right, so look at the randomness and the update: draw x_T first with "
        "torch.randn(shape, generator=generator), pass the same generator to every ddpm_step "
        "(which adds no noise at step 0), and feed each step's output into the next.",
    )
    print("check_sampling_loop passed")


# ---------------------------------------------------------------------------- chapter 2
def _step_mistakes(
    x_t: Tensor, step: int, eps: Tensor, noise: Tensor, schedule: NoiseSchedule, variance: str
) -> tuple[Tensor, dict[str, Tensor]]:
    """The reference x_{t-1} and the results of the usual mistakes, at one step."""
    c = _coefs(schedule, step)
    beta, alpha, ab = c["beta"], c["alpha"], c["alpha_bar"]
    mean = (x_t - beta / (1 - ab) ** 0.5 * eps) / alpha**0.5
    var = beta if variance == "beta" else c["posterior_variance"]
    other = c["posterior_variance"] if variance == "beta" else beta
    other_name = "posterior" if variance == "beta" else "beta"
    expected = ddpm_step(x_t, step, eps, schedule, variance=variance, noise=noise)[0]
    last = step == 0
    noisy = (lambda m, v: m) if last else (lambda m, v: m + v**0.5 * noise)
    mistakes = {
        "the square root on alpha_t is missing: divide by sqrt(alpha_t), not alpha_t": noisy(
            (x_t - beta / (1 - ab) ** 0.5 * eps) / alpha, var
        ),
        "you used alpha_t where alpha_bar_t belongs in the noise coefficient "
        "beta_t / sqrt(1 - alpha_bar_t)": noisy(
            (x_t - beta / (1 - alpha) ** 0.5 * eps) / alpha**0.5, var
        ),
        "the square root in beta_t / sqrt(1 - alpha_bar_t) is missing": noisy(
            (x_t - beta / (1 - ab) * eps) / alpha**0.5, var
        ),
        "the predicted noise is added instead of subtracted": noisy(
            (x_t + beta / (1 - ab) ** 0.5 * eps) / alpha**0.5, var
        ),
        f"you used the {other_name} variance for sigma_t^2; this check asks for "
        f"variance={variance!r}": noisy(mean, other),
    }
    if last:
        mistakes["noise was added at the last step (step 0); it must return the mean alone"] = (
            mean + var**0.5 * noise
        )
        mistakes["noise was added at the last step (step 0), with the other variance"] = (
            mean + other**0.5 * noise
        )
    else:
        mistakes[
            "the noise is scaled by the variance sigma_t^2, not the standard deviation sigma_t"
        ] = mean + var * noise
        mistakes["no fresh noise was added; every step but the last adds sigma_t z"] = mean
    return expected, mistakes


def check_denoise_step(
    fn: Callable[[Tensor, int, Tensor, NoiseSchedule, Tensor], Tensor], *, variance: str = "beta"
) -> None:
    """Check one DDPM step ``fn(x_t, step, eps_pred, schedule, noise) -> x_{t-1}``.

    Reference (Ho et al. 2020, eq. 11 and Algorithm 2):
    ``x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_pred) / sqrt(alpha_t) + sigma_t z``
    with ``z = noise``, ``sigma_t^2 = beta_t`` (``variance="beta"``) or the posterior variance
    (``variance="posterior"``), and no noise at ``step = 0``. The function may also return a
    tuple whose first item is ``x_{t-1}``, as :func:`ddpm_step` does.
    """
    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' or 'posterior'; got {variance!r}")
    schedule = _schedule()
    for k, step in enumerate((7, 4, 1, 0)):
        x_t, eps = _randn(2, 1, 3, 3, seed=10 + k), _randn(2, 1, 3, 3, seed=20 + k)
        noise = _randn(2, 1, 3, 3, seed=30 + k)
        expected, mistakes = _step_mistakes(x_t, step, eps, noise, schedule, variance)
        out = fn(x_t.clone(), step, eps.clone(), schedule, noise.clone())
        _compare(
            _first_tensor(out, "your step"), expected, f"at step {step}, your x_{{t-1}}", mistakes
        )
    print("check_denoise_step passed")


def check_no_noise_at_last_step(
    fn: Callable[[Tensor, int, Tensor, NoiseSchedule, Tensor], Tensor],
) -> None:
    """Check that a step ``fn(x_t, step, eps_pred, schedule, noise)`` adds noise except at step 0.

    At ``step = 0`` the output must not depend on ``noise`` (it is the final image); at every
    other step it must (the sampler adds ``sigma_t z``).
    """
    schedule = _schedule()
    x_t, eps = _randn(2, 1, 3, 3, seed=40), _randn(2, 1, 3, 3, seed=41)
    z1, z2 = _randn(2, 1, 3, 3, seed=42), _randn(2, 1, 3, 3, seed=43)
    for step in (0, 3):
        a = _first_tensor(fn(x_t.clone(), step, eps.clone(), schedule, z1.clone()), "your step")
        b = _first_tensor(fn(x_t.clone(), step, eps.clone(), schedule, z2.clone()), "your step")
        if step == 0 and not _close(a, b):
            raise AssertionError(
                "at step 0 your output changes when the noise changes: the last step must return "
                "the mean alone, or every final image keeps a last speck of noise."
            )
        if step > 0 and _close(a, b):
            raise AssertionError(
                f"at step {step} your output ignores the noise: every step but the last adds "
                "sigma_t z, with z the fresh noise passed in."
            )
    final = _first_tensor(fn(x_t.clone(), 0, eps.clone(), schedule, z1.clone()), "your step")
    _compare(
        final, ddpm_step(x_t, 0, eps, schedule)[0], "at step 0, your output (the mean of eq. 11)"
    )
    print("check_no_noise_at_last_step passed")


def check_sigma_choice(fn: Callable[[NoiseSchedule, str], Tensor]) -> None:
    """Check ``fn(schedule, variance) -> sigma`` of shape (T,), the noise scale of each step.

    ``variance="beta"``: ``sigma_t = sqrt(beta_t)``; ``variance="posterior"``:
    ``sigma_t = sqrt(beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t))`` with
    ``alpha_bar_{-1} = 1`` (Ho et al. 2020, section 3.2; in the schedule, ``alpha_bars_prev``).
    """
    schedule = _schedule()
    reference = {"beta": schedule.betas.sqrt(), "posterior": schedule.posterior_variance.sqrt()}
    for variance, expected in reference.items():
        raw = fn(schedule, variance)
        actual = (
            raw.double() if isinstance(raw, Tensor) else torch.as_tensor(raw, dtype=torch.float64)
        )
        if actual.shape != expected.shape:
            raise AssertionError(
                f"for variance={variance!r} your sigma has shape {tuple(actual.shape)}; expected "
                f"({schedule.num_steps},), one value per step"
            )
        mistakes = {
            "you returned the variance sigma_t^2, not the standard deviation sigma_t": expected**2
        }
        if variance == "beta":
            mistakes[
                "you returned the posterior choice; variance='beta' means sigma_t = sqrt(beta_t)"
            ] = reference["posterior"]
        else:
            mistakes[
                "you returned sqrt(beta_t): either the other choice, or the posterior variance "
                "computed with alpha_bar_t where alpha_bar_{t-1} belongs (alpha_bars_prev)"
            ] = reference["beta"]
            mistakes["the posterior variance is missing its factor beta_t"] = (
                (1 - schedule.alpha_bars_prev) / (1 - schedule.alpha_bars)
            ).sqrt()
        _compare(actual, expected, f"for variance={variance!r}, your sigma", mistakes)
    print("check_sigma_choice passed")


def check_noise_error(fn: Callable[..., Any]) -> None:
    """Check ``fn(model, x0, noise, true_step, claimed_step, schedule) -> float``.

    The reference noises ``x0`` to ``true_step`` with ``noise`` (Ho et al. 2020, eq. 4), asks
    the model for the noise while telling it ``claimed_step``, and returns the mean over all
    pixels of ``(eps_pred - noise)^2``.
    """
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
        with torch.no_grad():
            raw = fn(RecordingDenoiser(), x0.clone(), noise.clone(), true, claimed, schedule)
        try:
            actual = float(raw)
        except (TypeError, ValueError) as err:
            raise AssertionError(
                f"your function must return a number; it returned {type(raw).__name__}"
            ) from err
        expected = error(true, claimed)
        if abs(actual - expected) <= 1e-4 * abs(expected) + 1e-6:
            continue
        mistakes = {
            "you noised the image at the claimed step; the image is noised at the true step, "
            "only the model is told the claimed one": error(true, claimed, noised_at=claimed),
            "you told the model the true step; tell it the claimed step": error(
                true, claimed, told=true
            ),
            "you summed the squared errors; take their mean over all pixels": error(
                true, claimed, reduce="sum"
            ),
            "you took the square root (an RMS); return the mean squared error": error(
                true, claimed, reduce="rms"
            ),
            "you compared the prediction with the clean image; compare it with the noise": error(
                true, claimed, target=x0
            ),
        }
        why = next(
            (
                f" It looks like {d}."
                for d, v in mistakes.items()
                if abs(actual - v) <= 1e-4 * abs(v) + 1e-6
            ),
            "",
        )
        raise AssertionError(
            f"for true step {true} and claimed step {claimed} your error is {actual:.6g}; "
            f"expected {expected:.6g}.{why}"
        )
    print("check_noise_error passed")
