"""Checkers for the chapter on scores: conversions, a Langevin step, the classifier-guided noise.

Each checker calls the reader's function on a small fixed input, compares it with the
package's reference (:mod:`ddpm_tutorial.scores`; Dhariwal & Nichol 2021, sec. 4.2, eqs. 11
and 14; Song & Ermon 2019, sec. 2.2), prints ``<name> passed``, or raises ``AssertionError``
with a sentence that says what differs and, where the result matches a common mistake, which
one: the score with the wrong sign, a division by ``1 - alpha_bar`` instead of its square
root, ``alphas`` where ``alpha_bars`` belong, v with the sign flipped, a clean image off by
the factor ``sqrt(alpha_bar)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..schedules import NoiseSchedule
from ..scores import noise_from_score, score_from_noise, score_from_v, x0_from_score
from ._common import Mistake, as_tensor, call_reader, compare, passed

__all__ = [
    "check_classifier_guided_noise",
    "check_langevin_step",
    "check_score_from_noise",
    "check_score_from_v",
    "check_x0_from_score",
]

_RTOL, _ATOL = 1e-5, 1e-7
_STEPS = [999, 500, 60, 0]  # from the noisiest step to the least noisy


def _inputs(seed: int) -> tuple[NoiseSchedule, Tensor, Tensor, Tensor]:
    """The linear schedule, t (4,) and two float64 tensors of shape (4, 1, 3, 3)."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, 4, 1, 3, 3, generator=g, dtype=torch.float64)
    return NoiseSchedule.linear(1000), torch.tensor(_STEPS), a, b


def _coefs(schedule: NoiseSchedule, t: Tensor) -> tuple[Tensor, Tensor]:
    """alpha_bars[t] and alphas[t], shaped (4, 1, 1, 1)."""
    shape = (-1, 1, 1, 1)
    return schedule.alpha_bars[t].reshape(shape), schedule.alphas[t].reshape(shape)


# ---------------------------------------------------------------------------- the score of a noise
def check_score_from_noise(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(eps, t, schedule) -> score``: ``s = -eps / sqrt(1 - alpha_bars[t])``.

    ``eps`` has shape (4, 1, 3, 3) and ``t`` holds the steps 999, 500, 60 and 0 of the linear
    schedule; the result must have the shape of ``eps`` (Dhariwal & Nichol 2021, eq. 11).
    """
    name = "check_score_from_noise"
    schedule, t, eps, _ = _inputs(0)
    expected = score_from_noise(eps, t, schedule)
    out = call_reader(name, candidate, eps.clone(), t.clone(), schedule)
    actual = as_tensor(name, out, "the score")
    ab, a = _coefs(schedule, t)
    mistakes: list[Mistake] = [
        (
            eps / (1 - ab).sqrt(),
            "The sign is flipped: the noise points away from the data and the score toward "
            "it, s = -eps / sqrt(1 - alpha_bar).",
        ),
        (
            -eps / (1 - ab),
            "It divides by 1 - alpha_bar, the variance of the noise; the score divides by its "
            "standard deviation, sqrt(1 - alpha_bar).",
        ),
        (
            eps / (1 - ab),
            "The sign is flipped, and it divides by 1 - alpha_bar instead of its square root.",
        ),
        (
            -eps / (1 - a).sqrt(),
            "It uses alphas[t] where alpha_bars[t] belongs: x_t holds the noise of every step "
            "up to t, whose variance is 1 - alpha_bar.",
        ),
        (
            -(1 - ab).sqrt() * eps,
            "It multiplies by sqrt(1 - alpha_bar) instead of dividing: that is the way back, "
            "from a score to the noise.",
        ),
        (-eps / ab.sqrt(), "It divides by sqrt(alpha_bar); divide by sqrt(1 - alpha_bar)."),
    ]
    compare(
        name,
        actual,
        expected,
        "the score",
        mistakes=mistakes,
        reference="-eps / sqrt(1 - alpha_bar)",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- Tweedie's formula
def check_x0_from_score(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x_t, t, score, schedule) -> x0``: Tweedie's formula.

    ``x0 = (x_t + (1 - alpha_bars[t]) score) / sqrt(alpha_bars[t])``; ``x_t`` and ``score`` have
    shape (4, 1, 3, 3), ``t`` shape (4,).
    """
    name = "check_x0_from_score"
    schedule, t, x_t, score = _inputs(1)
    score = score * 3.0  # the size of a score at the least noisy steps
    expected = x0_from_score(x_t, t, score, schedule)
    out = call_reader(name, candidate, x_t.clone(), t.clone(), score.clone(), schedule)
    actual = as_tensor(name, out, "x0", first_of_tuple=True)
    ab, a = _coefs(schedule, t)
    mistakes: list[Mistake] = [
        (
            x_t + (1 - ab) * score,
            "It is off by the factor sqrt(alpha_bar): x_t + (1 - alpha_bar) s is the mean of "
            "sqrt(alpha_bar) x0; divide it by sqrt(alpha_bar).",
        ),
        (
            (x_t + (1 - ab) * score) * ab.sqrt(),
            "It multiplies by sqrt(alpha_bar) where it must divide: x_t + (1 - alpha_bar) s is "
            "sqrt(alpha_bar) x0.",
        ),
        (
            (x_t - (1 - ab) * score) / ab.sqrt(),
            "The score term has the wrong sign: the score points toward the data, so add it.",
        ),
        (
            (x_t + (1 - ab).sqrt() * score) / ab.sqrt(),
            "It scales the score by sqrt(1 - alpha_bar); Tweedie's formula scales it by the "
            "variance, 1 - alpha_bar (the noise is -sqrt(1 - alpha_bar) s).",
        ),
        (
            (x_t + (1 - a) * score) / a.sqrt(),
            "It uses alphas[t] where alpha_bars[t] belongs.",
        ),
    ]
    compare(
        name,
        actual,
        expected,
        "x0",
        mistakes=mistakes,
        reference="(x_t + (1 - alpha_bar) score) / sqrt(alpha_bar)",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- v
def check_score_from_v(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x_t, t, v, schedule) -> score`` for ``v = sqrt(ab) eps - sqrt(1 - ab) x0``.

    The noise is ``eps = sqrt(1 - ab) x_t + sqrt(ab) v`` (Salimans & Ho 2022, appendix D), the
    score ``-eps / sqrt(1 - ab)``. ``x_t`` and ``v`` have shape (4, 1, 3, 3), ``t`` shape (4,).
    """
    name = "check_score_from_v"
    schedule, t, x_t, v = _inputs(2)
    expected = score_from_v(x_t, t, v, schedule)
    out = call_reader(name, candidate, x_t.clone(), t.clone(), v.clone(), schedule)
    actual = as_tensor(name, out, "the score")
    ab, a = _coefs(schedule, t)
    sd = (1 - ab).sqrt()
    mistakes: list[Mistake] = [
        (
            -(sd * x_t - ab.sqrt() * v) / sd,
            "It matches v with the sign flipped (v = sqrt(1 - alpha_bar) x0 - sqrt(alpha_bar) "
            "eps): the book's v, Salimans & Ho's, is sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) "
            "x0, so eps = sqrt(1 - alpha_bar) x_t + sqrt(alpha_bar) v.",
        ),
        (
            (sd * x_t + ab.sqrt() * v) / sd,
            "The score has the wrong sign: s = -eps / sqrt(1 - alpha_bar).",
        ),
        (
            -(ab.sqrt() * x_t + sd * v) / sd,
            "The two coefficients are swapped: eps = sqrt(1 - alpha_bar) x_t + sqrt(alpha_bar) v.",
        ),
        (
            sd * x_t + ab.sqrt() * v,
            "That is the noise eps; the score is -eps / sqrt(1 - alpha_bar).",
        ),
        (
            -((1 - a).sqrt() * x_t + a.sqrt() * v) / (1 - a).sqrt(),
            "It uses alphas[t] where alpha_bars[t] belong.",
        ),
    ]
    compare(
        name,
        actual,
        expected,
        "the score",
        mistakes=mistakes,
        reference="-(sqrt(1 - alpha_bar) x_t + sqrt(alpha_bar) v) / sqrt(1 - alpha_bar)",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- a Langevin step
def check_langevin_step(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x, score, step_size, noise) -> x_next``: one step of Langevin dynamics.

    ``x_next = x + (step_size / 2) score + sqrt(step_size) noise`` (Song & Ermon 2019, sec.
    2.2); ``x``, ``score`` and ``noise`` have shape (6, 2), ``step_size`` is a float.
    """
    name = "check_langevin_step"
    g = torch.Generator().manual_seed(3)
    x, score, z = torch.randn(3, 6, 2, generator=g, dtype=torch.float64)
    for step in (0.01, 0.3):
        expected = x + 0.5 * step * score + math.sqrt(step) * z
        out = call_reader(name, candidate, x.clone(), score.clone(), step, z.clone())
        actual = as_tensor(name, out, f"x_next for step_size = {step}")
        mistakes: list[Mistake] = [
            (
                x + step * score + math.sqrt(step) * z,
                "The half is missing: the drift is (step_size / 2) score. With the full step "
                "the points settle where the density squared is large, too tightly.",
            ),
            (
                x + 0.5 * step * score + step * z,
                "The noise is scaled by step_size; it must be sqrt(step_size), or the noise "
                "vanishes faster than the drift as the step shrinks.",
            ),
            (
                x + 0.5 * step * score,
                "No noise is added: without it the points climb to the modes and stop "
                "(gradient ascent), instead of sampling the density.",
            ),
            (
                x - 0.5 * step * score + math.sqrt(step) * z,
                "The drift has the wrong sign: move along the score, toward high density.",
            ),
            (
                x + step * score + math.sqrt(2 * step) * z,
                "That is the same dynamics written with a step twice as large "
                "(x + e s + sqrt(2 e) z, as Song et al. 2021 write it); the checker uses "
                "x + (e / 2) s + sqrt(e) z.",
            ),
        ]
        compare(
            name,
            actual,
            expected,
            f"x_next for step_size = {step}",
            mistakes=mistakes,
            reference="x + (step_size / 2) score + sqrt(step_size) noise",
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)


# ---------------------------------------------------------------------------- classifier guidance
def check_classifier_guided_noise(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(eps, grad_log_p, t, schedule, scale) -> eps_hat``.

    Classifier guidance (Dhariwal & Nichol 2021, sec. 4.2, eq. 14, with the gradient scaled by
    ``s`` as in their sec. 4.3): ``eps_hat = eps - s sqrt(1 - alpha_bars[t]) grad_log_p``, where
    ``grad_log_p = grad_{x_t} log p(y | x_t)``. It is the noise whose score is the
    unconditional score plus ``s`` times ``grad_log_p``. ``eps`` and ``grad_log_p`` have shape
    (4, 1, 3, 3), ``t`` shape (4,).
    """
    name = "check_classifier_guided_noise"
    schedule, t, eps, grad = _inputs(4)
    ab, _ = _coefs(schedule, t)
    sd = (1 - ab).sqrt()
    for scale in (1.0, 4.0):
        score = score_from_noise(eps, t, schedule) + scale * grad
        expected = noise_from_score(score, t, schedule)
        out = call_reader(name, candidate, eps.clone(), grad.clone(), t.clone(), schedule, scale)
        actual = as_tensor(name, out, f"eps_hat for scale = {scale}")
        mistakes: list[Mistake] = [
            (
                eps + scale * sd * grad,
                "The gradient enters with the wrong sign: the noise is minus the scaled score, "
                "so eps_hat = eps - s sqrt(1 - alpha_bar) grad log p(y | x_t).",
            ),
            (
                eps - scale * grad,
                "The factor sqrt(1 - alpha_bar) is missing: the gradient is a score, and a "
                "score becomes a noise when multiplied by -sqrt(1 - alpha_bar).",
            ),
            (
                eps - scale * grad / sd,
                "It divides the gradient by sqrt(1 - alpha_bar); multiply by it.",
            ),
            (
                eps - scale * (1 - ab) * grad,
                "It multiplies by 1 - alpha_bar; the factor is its square root.",
            ),
            (eps - sd * grad, "The guidance scale s is missing."),
        ]
        compare(
            name,
            actual,
            expected,
            f"eps_hat for scale = {scale}",
            mistakes=mistakes,
            reference="eps - s sqrt(1 - alpha_bar) grad_log_p",
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)
