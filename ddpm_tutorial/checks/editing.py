"""Checkers for the editing chapter: SDEdit's start, one RePaint replacement, one inversion step.

The conventions checked are those of :mod:`ddpm_tutorial.editing` on a noise schedule of T
steps: SDEdit at strength ``s`` starts at step ``round(s (T - 1))`` from
``sqrt(ab) x0 + sqrt(1 - ab) noise`` (Meng et al. 2022; Ho et al. 2020, eq. 4); a RePaint
replacement keeps the input's pixels where the mask is 1, noised to the step just reached, and
the sampler's pixels where it is 0 (Lugmayr et al. 2022, Algorithm 1, lines 5-8); a DDIM
inversion step moves from ``step`` up to ``next_step`` with the noise predicted at ``step``
(Song et al. 2021, sec. 4.3; step -1 is the clean image, predicted at step 0). Each checker
runs the reader's function on a small fixed input, compares it with the package's reference,
prints ``<name> passed``, or raises ``AssertionError`` with a sentence that says what differs
and, where the result matches a usual mistake, which one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..editing import ddim_inversion_step
from ..forward_process import add_noise
from ..schedules import NoiseSchedule
from ._common import Mistake, as_tensor, call_reader, compare, passed

__all__ = ["check_sdedit_start", "check_repaint_replace", "check_ddim_inversion_step"]

_RTOL, _ATOL = 1e-4, 1e-5
_T = 1000


def _randn(*shape: int, seed: int) -> Tensor:
    """A standard normal float32 tensor of the given shape, the same for the same seed."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _full(x: Tensor, step: int) -> Tensor:
    return torch.full((x.shape[0],), step, dtype=torch.long)


def _mix(x0: Tensor, noise: Tensor, ab: Tensor | float, *, sqrt: bool = True) -> Tensor:
    ab = torch.as_tensor(ab, dtype=torch.float64)
    if sqrt:
        return ab.sqrt() * x0.double() + (1 - ab).sqrt() * noise.double()
    return ab * x0.double() + (1 - ab) * noise.double()


# ---------------------------------------------------------------------------- SDEdit
def check_sdedit_start(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x0, noise, strength, schedule) -> x``, where SDEdit starts denoising.

    ``x0`` and ``noise`` have shape (3, 1, 4, 4); ``schedule`` is the linear schedule of
    T = 1000 steps; ``strength`` is 0.25, 0.5 and 0.8 in turn. Expected: ``x`` of the shape of
    ``x0`` at step ``k = round(strength (T - 1))``, ``sqrt(ab_k) x0 + sqrt(1 - ab_k) noise``.
    """
    name = "check_sdedit_start"
    schedule = NoiseSchedule.linear(_T)
    x0, noise = _randn(3, 1, 4, 4, seed=0), _randn(3, 1, 4, 4, seed=1)
    ab = schedule.alpha_bars.double()
    for strength in (0.25, 0.5, 0.8):
        k = int(round(strength * (_T - 1)))
        out = call_reader(name, candidate, x0.clone(), noise.clone(), strength, schedule)
        actual = as_tensor(name, out, "x")
        expected = add_noise(x0, _full(x0, k), noise, schedule).double()
        flipped = int(round((1 - strength) * (_T - 1)))
        mistakes: list[Mistake] = [
            (
                _mix(x0, noise, ab[k], sqrt=False),
                "The square roots are missing: the forward process mixes sqrt(alpha_bar) x0 with "
                "sqrt(1 - alpha_bar) noise (Ho et al. 2020, eq. 4), so that the variance stays 1.",
            ),
            (
                _mix(x0, noise, ab[flipped]),
                f"The strength is measured the wrong way: strength {strength} starts at step "
                f"round(strength (T - 1)) = {k}, near the noise for strength near 1; yours noised "
                f"to step {flipped}, round((1 - strength) (T - 1)).",
            ),
            (
                _mix(x0, noise, torch.tensor(strength, dtype=torch.float64)),
                "It used the strength itself as alpha_bar; the strength picks a step, and "
                "alpha_bar is the schedule's value at that step.",
            ),
        ]
        compare(
            name,
            actual,
            expected,
            f"x at strength {strength}",
            mistakes=mistakes,
            reference=f"sqrt(alpha_bars[{k}]) x0 + sqrt(1 - alpha_bars[{k}]) noise",
            hint="Pick the step k = round(strength * (T - 1)) and noise x0 to it as training does.",
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)


# ---------------------------------------------------------------------------- RePaint
def check_repaint_replace(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x_generated, images, mask, step, noise, schedule) -> x``, one RePaint merge.

    ``x_generated`` is the sampler's image after a step down to ``step``, ``images`` the input,
    both (2, 1, 4, 4); ``mask`` (1, 1, 4, 4) is 1 where the input is kept; ``noise`` (2, 1, 4, 4)
    noises the input to ``step`` (300, then 0) of the linear schedule of T = 1000 steps.
    Expected (Lugmayr et al. 2022, Algorithm 1, lines 5-8):
    ``mask * add_noise(images, step, noise) + (1 - mask) * x_generated``.
    """
    name = "check_repaint_replace"
    schedule = NoiseSchedule.linear(_T)
    x_gen, images, noise = (_randn(2, 1, 4, 4, seed=s) for s in (2, 3, 4))
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1  # keep the top half
    for step in (300, 0):
        args = (x_gen.clone(), images.clone(), mask.clone(), step, noise.clone(), schedule)
        out = call_reader(name, candidate, *args)
        actual = as_tensor(name, out, "x")
        known = add_noise(images, _full(images, step), noise, schedule).double()
        m, gen = mask.double(), x_gen.double()
        expected = m * known + (1 - m) * gen
        clean = images.double()
        mistakes: list[Mistake] = [
            (
                m * clean + (1 - m) * gen,
                "It pasted the clean input into the known region; at a step above the end the "
                "rest of the image is noisy, so the kept pixels must be the input noised to the "
                "same step (add_noise at step), or the seam shows.",
            ),
            (
                (1 - m) * known + m * gen,
                "The mask is inverted: 1 marks the pixels to keep from the input, 0 those to "
                "generate.",
            ),
            (
                (1 - m) * clean + m * gen,
                "The mask is inverted (1 keeps the input), and the clean input was pasted in "
                "place of the input noised to the step.",
            ),
        ]
        compare(
            name,
            actual,
            expected,
            f"x at step {step}",
            mistakes=mistakes,
            reference="mask * add_noise(images, step, noise) + (1 - mask) * x_generated",
            hint="Noise the input to the step just reached, keep it where mask is 1 and the "
            "sampler's pixels where it is 0.",
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)


# ---------------------------------------------------------------------------- inversion
def _stand_in(x_t: Tensor, t: Tensor, *args: Any) -> Tensor:
    """A fixed, step-dependent stand-in for a noise predictor, shape of ``x_t``."""
    scale = torch.sin(t.to(x_t.dtype) / 150.0).reshape(-1, *([1] * (x_t.ndim - 1)))
    return 0.6 * torch.tanh(x_t) + scale


def check_ddim_inversion_step(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(model, x, step, next_step, schedule) -> x_next``, one DDIM inversion step.

    ``model(x_t, t)`` is a stand-in noise predictor whose output depends on the step; ``x`` has
    shape (2, 1, 4, 4); the steps are ``(-1, 19)``, ``(199, 399)`` and ``(599, 999)`` of the
    linear schedule of T = 1000 steps (step -1 is the clean image). Expected (Song et al.
    2021, eq. 12 with sigma = 0, run upward as in sec. 4.3): ``eps = model(x, max(step, 0))``,
    ``x0_pred = (x - sqrt(1 - ab) eps) / sqrt(ab)`` with ``ab = 1`` at step -1, then
    ``x_next = sqrt(ab_next) x0_pred + sqrt(1 - ab_next) eps``.
    """
    name = "check_ddim_inversion_step"
    schedule = NoiseSchedule.linear(_T)
    x = _randn(2, 1, 4, 4, seed=5)
    for step, next_step in ((-1, 19), (199, 399), (599, 999)):
        out = call_reader(name, candidate, _stand_in, x.clone(), step, next_step, schedule)
        actual = as_tensor(name, out, "x_next")
        eps_here = _stand_in(x, _full(x, max(step, 0)))
        eps_there = _stand_in(x, _full(x, next_step))
        expected = ddim_inversion_step(x, step, next_step, eps_here, schedule).double()
        mistakes: list[Mistake] = [
            (
                ddim_inversion_step(x, step, next_step, eps_there, schedule).double(),
                f"It predicted the noise at next_step = {next_step}; inversion only knows x at "
                f"step {step}, so the network is asked there (at step 0 for the clean image), "
                "which is Euler's method taking the slope at the start of the step.",
            ),
        ]
        e = eps_here.double()
        ab_next = schedule.alpha_bars[next_step].double()
        x0_wrong = (x.double() - (1 - ab_next).sqrt() * e) / ab_next.sqrt()
        mistakes.append(
            (
                ab_next.sqrt() * x0_wrong + (1 - ab_next).sqrt() * e,
                "It computed x0_pred with alpha_bar of next_step; x is at step, so x0_pred = "
                "(x - sqrt(1 - alpha_bar_step) eps) / sqrt(alpha_bar_step) (and x itself at "
                "step -1). The result is x unchanged.",
            )
        )
        compare(
            name,
            actual,
            expected,
            f"x_next from step {step} to {next_step}",
            mistakes=mistakes,
            reference="sqrt(ab_next) x0_pred + sqrt(1 - ab_next) eps, eps = model(x, step)",
            hint="Predict the noise at the current step, estimate x0 from it, and noise that "
            "estimate up to next_step with the same predicted noise.",
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)
