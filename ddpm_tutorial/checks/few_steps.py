"""Checkers for the few-steps chapter: reflow's pairs and progressive distillation's target.

* :func:`check_reflow_pairs`: the reader's loop that turns noise ``z`` into its reflow pair
  ``(x_hat, z)``, ``x_hat = ODE(z)`` by Euler steps from ``t = 1`` (noise) down to ``t = 0``
  (data), in the book's flow convention (:mod:`ddpm_tutorial.flow_matching`). Usual mistakes:
  drawing fresh noise instead of starting from the pair's own ``z``, running time the wrong way
  (from 0 up to 1), calling the network with ``t`` instead of ``path.time_scale * t``.
* :func:`check_distillation_target`: progressive distillation's clean-image target (Salimans &
  Ho 2022, Algorithm 2): the ``x~`` such that *one* DDIM step of the student from ``t`` to
  ``t''`` lands where *two* DDIM steps of the teacher, ``t -> t' -> t''``, land. Usual
  mistakes: ``t'`` where ``t''`` belongs, ``alpha_bar`` where ``sqrt(alpha_bar)`` belongs, and
  the teacher's own clean-image prediction as the target.
* :func:`check_consistency_scalings`: the skip and output scalings of a consistency model (Song
  et al. 2023), ``f(x, t) = c_skip(t) x + c_out(t) F(x, t)``, which must give ``f(x, eps) = x``
  at the smallest time ``eps``. Usual mistake: EDM's scalings, whose ``c_skip`` and ``c_out``
  are not shifted by ``eps`` and so miss the boundary condition.

Each checker runs the reader's function on a small fixed input with a stand-in network,
compares it with the reference, prints ``<name> passed``, or raises ``AssertionError`` with a
sentence that says what differs and which usual mistake the result matches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..flow_matching import FlowMatching, flow_times, sample_flow
from ..reverse_process import ddim_step
from ..schedules import NoiseSchedule
from ._common import Mistake, as_tensor, call_reader, close, compare, fail, passed

__all__ = ["check_reflow_pairs", "check_distillation_target", "check_consistency_scalings"]

_RTOL, _ATOL = 1e-4, 1e-5


def _randn(*shape: int, seed: int) -> Tensor:
    """A standard normal float32 tensor of the given shape, the same for the same seed."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- reflow's pairs
def _velocity_stand_in(x_t: Tensor, s: Tensor) -> Tensor:
    """A smooth, nonlinear stand-in for a velocity network: ``v(x, s)``, ``s = 1000 t``."""
    scale = s.float().reshape(-1, *([1] * (x_t.ndim - 1))) / 1000.0
    return torch.tanh(x_t) * (0.5 + scale) - 0.3 * scale * x_t.flip(-1)


def _euler_over(
    model: Callable[..., Tensor], z: Tensor, times: list[float], scale: float
) -> Tensor:
    """Euler steps ``x <- x + (t' - t) v(x, scale t)`` over ``times`` in the order given."""
    x = z
    with torch.no_grad():
        for t, t_next in zip(times[:-1], times[1:]):
            s = torch.full((x.shape[0],), scale * t)
            x = x + (t_next - t) * model(x, s)
    return x


def check_reflow_pairs(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(model, path, z, num_steps) -> x_hat``, the ODE end of each noise.

    Reflow (Liu et al. 2023) trains on pairs ``(x_hat, z)`` whose ``x_hat`` is the teacher's
    ODE solution started *at that very* ``z``: ``num_steps`` Euler steps of ``dx/dt = v(x, t)``
    from ``t = 1`` down to ``t = 0`` over :func:`~ddpm_tutorial.flow_matching.flow_times`, the
    network called as ``model(x, path.time_scale * t)`` with ``t`` of shape (B,).

    Args:
        candidate: the reader's function; ``z`` has shape (B, C, H, W), the result must too.
    """
    name = "check_reflow_pairs"
    path = FlowMatching()
    z = _randn(3, 1, 4, 4, seed=11)
    num_steps = 4
    expected = sample_flow(_velocity_stand_in, path, z.shape, num_steps=num_steps, x_T=z)
    results = []
    # two calls under two global seeds (the reader's RNG state is restored afterwards): a reader
    # who draws fresh noise gets two different draws
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        for seed in (54321, 12345):
            torch.manual_seed(seed)
            got = call_reader(name, candidate, _velocity_stand_in, path, z.clone(), num_steps)
            results.append(as_tensor(name, got, "x_hat"))
    first, second = results
    if first.shape == expected.shape and not close(first, second, _RTOL, _ATOL):
        fail(
            name,
            "two calls with the same z returned different x_hat: the pair must start from its own "
            "noise z (x = z), not from fresh noise such as torch.randn_like(z); a reflow pair is "
            "(ODE(z), z), so the student learns the map from each z to its own digit.",
        )
    forward = flow_times(num_steps)[::-1]  # 0 -> 1: the wrong way
    mistakes: list[Mistake] = [
        (
            _euler_over(_velocity_stand_in, z, forward, path.time_scale),
            "Time runs the wrong way: in this book t = 1 is noise and t = 0 the data, so the ODE is "
            "solved from t = 1 down to t = 0 (each step t' < t).",
        ),
        (
            _euler_over(_velocity_stand_in, z, flow_times(num_steps), 1.0),
            f"The network was called with t itself; call it with path.time_scale * t = "
            f"{path.time_scale:g} t, the scale it was trained with.",
        ),
        (
            _euler_over(_velocity_stand_in, z, flow_times(num_steps)[:-1], path.time_scale),
            "The loop stops one step short of t = 0: N steps visit the N + 1 times "
            "flow_times(N), from 1 down to and including 0.",
        ),
    ]
    compare(
        name,
        first.double(),
        expected.double(),
        "x_hat",
        mistakes=mistakes,
        reference=f"sample_flow(model, path, z.shape, num_steps={num_steps}, x_T=z)",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- distillation's target
def _eps_stand_in(x_t: Tensor, t: Tensor) -> Tensor:
    """A nonlinear stand-in teacher that predicts noise, ``eps(x_t, t)``, t int64 (B,)."""
    scale = t.double().reshape(-1, *([1] * (x_t.ndim - 1))) / 1000.0
    return torch.tanh(x_t) * (0.4 + scale) + 0.2 * (1 - scale) * x_t.roll(1, dims=-1)


def _target(x_t: Tensor, x_end: Tensor, ab_t: float, ab_end: float, root: bool = True) -> Tensor:
    """``x~ = (x_end - (s_end / s_t) x_t) / (a_end - (s_end / s_t) a_t)`` (Salimans & Ho, Alg. 2).

    ``a = sqrt(ab)``, ``s = sqrt(1 - ab)``; with ``root=False`` the square roots are left out
    (the mistake of using alpha_bar where sqrt(alpha_bar) belongs).
    """
    f: Callable[[float], float] = (lambda v: v**0.5) if root else (lambda v: v)
    ratio = f(1 - ab_end) / f(1 - ab_t)
    return (x_end - ratio * x_t) / (f(ab_end) - ratio * f(ab_t))


def _ab(schedule: NoiseSchedule, step: int) -> float:
    """``alpha_bar`` at a 0-based step, 1 at step -1 (the clean image)."""
    return 1.0 if step < 0 else float(schedule.alpha_bars[step])


def check_distillation_target(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(teacher, x_t, step, mid_step, end_step, schedule) -> x_tilde``.

    The reader's function runs two deterministic DDIM steps of ``teacher`` (a noise predictor
    called as ``teacher(x, t)`` with int64 ``t`` of shape (B,)), ``step -> mid_step ->
    end_step``, and returns the clean image ``x~`` that makes one DDIM step ``step -> end_step``
    land on the teacher's result ``x_end`` (Salimans & Ho 2022, Algorithm 2):

        x~ = (x_end - (s_end / s_t) x_t) / (a_end - (s_end / s_t) a_t),

    with ``a = sqrt(alpha_bar)`` and ``s = sqrt(1 - alpha_bar)``; ``end_step = -1`` is the clean
    image (``alpha_bar = 1``), where ``x~ = x_end``. The checker also takes that one student step
    with ``x~`` and compares where it lands with the teacher's two steps.

    Args:
        candidate: the reader's function; ``x_t`` has shape (B, C, H, W), the result must too.
    """
    name = "check_distillation_target"
    schedule = NoiseSchedule.linear(1000)
    x_t = _randn(2, 1, 4, 4, seed=21).double()
    for step, mid, end in ((999, 749, 499), (600, 450, 300), (250, 125, -1)):
        tt = torch.full((x_t.shape[0],), step, dtype=torch.long)
        x_mid, _ = ddim_step(x_t, step, mid, _eps_stand_in(x_t, tt), schedule)
        x_end, x0_teacher = ddim_step(
            x_mid, mid, end, _eps_stand_in(x_mid, torch.full_like(tt, mid)), schedule
        )
        ab_t, ab_mid, ab_end = _ab(schedule, step), _ab(schedule, mid), _ab(schedule, end)
        expected = _target(x_t, x_end, ab_t, ab_end)
        with torch.no_grad():
            got = call_reader(name, candidate, _eps_stand_in, x_t.clone(), step, mid, end, schedule)
        actual = as_tensor(name, got, "x_tilde")
        mistakes: list[Mistake] = [
            (
                _target(x_t, x_mid, ab_t, ab_mid),
                "It uses the middle step t' where the end t'' belongs: the student takes one step "
                "from t to t'' and must land on the teacher's x at t'', with alpha_bar of t''.",
            ),
            (
                _target(x_t, x_end, ab_t, ab_mid),
                "It uses alpha_bar of the middle step t' where that of the end t'' belongs.",
            ),
            (
                _target(x_t, x_end, ab_t, ab_end, root=False),
                "The square roots are missing: a DDIM step weighs x0 by sqrt(alpha_bar) and the "
                "noise by sqrt(1 - alpha_bar), not by alpha_bar and 1 - alpha_bar.",
            ),
            (
                x0_teacher,
                "It returns the teacher's clean-image prediction of its second step; the target "
                "must make the student's single step land where the teacher's two landed, which "
                "that prediction does not.",
            ),
        ]
        compare(
            name,
            actual,
            expected,
            f"x_tilde for steps {step} -> {mid} -> {end}",
            mistakes=mistakes,
            reference="(x_end - (s_end/s_t) x_t) / (a_end - (s_end/s_t) a_t)",
            rtol=_RTOL,
            atol=_ATOL,
        )
        # the property that defines x~: one student DDIM step from step to end lands on x_end
        eps_student = (x_t - ab_t**0.5 * actual) / (1 - ab_t) ** 0.5
        landed, _ = ddim_step(x_t, step, end, eps_student, schedule, x0_pred=actual)
        compare(
            name,
            landed,
            x_end,
            f"one student DDIM step {step} -> {end} with your x_tilde",
            reference="the teacher's two steps",
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)


# ---------------------------------------------------------------------------- consistency models
def check_consistency_scalings(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(t, sigma_data, eps) -> (c_skip, c_out)`` of a consistency model.

    Song et al. (2023) write the model as ``f(x, t) = c_skip(t) x + c_out(t) F(x, t)`` and choose
    (in their appendix on experimental details, with ``sigma_data = 0.5``, ``eps = 0.002``)

        c_skip(t) = sigma_data^2 / ((t - eps)^2 + sigma_data^2),
        c_out(t) = sigma_data (t - eps) / sqrt(sigma_data^2 + t^2),

    so that ``c_skip(eps) = 1`` and ``c_out(eps) = 0``: at the smallest time the model returns
    its input whatever the network ``F`` says (the boundary condition ``f(x, eps) = x``).

    Args:
        candidate: the reader's function; ``t`` is a float64 tensor of shape (K,), the two
            results must have its shape.
    """
    name = "check_consistency_scalings"
    sigma_data, eps = 0.5, 0.002
    t = torch.tensor([eps, 0.01, 0.1, 0.5, 1.0, 10.0, 80.0], dtype=torch.float64)
    got = call_reader(name, candidate, t.clone(), sigma_data, eps)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(name, f"return the pair (c_skip, c_out); got {type(got).__name__}")
    c_skip, c_out = (as_tensor(name, v, what) for v, what in zip(got, ("c_skip", "c_out")))
    edm_skip = sigma_data**2 / (t**2 + sigma_data**2)
    edm_out = sigma_data * t / (sigma_data**2 + t**2).sqrt()
    edm = (
        "These are EDM's scalings (Karras et al. 2022) without the shift by eps: at t = eps they "
        "give c_skip < 1 and c_out > 0, so f(x, eps) != x and the boundary condition fails; "
        "replace t by t - eps in c_skip's denominator and c_out's numerator."
    )
    compare(
        name,
        c_skip,
        sigma_data**2 / ((t - eps) ** 2 + sigma_data**2),
        "c_skip",
        mistakes=[(edm_skip, edm)],
        reference="sigma_data^2 / ((t - eps)^2 + sigma_data^2)",
    )
    compare(
        name,
        c_out,
        sigma_data * (t - eps) / (sigma_data**2 + t**2).sqrt(),
        "c_out",
        mistakes=[(edm_out, edm)],
        reference="sigma_data (t - eps) / sqrt(sigma_data^2 + t^2)",
    )
    passed(name)
