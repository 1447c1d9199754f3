"""Checkers for the flow-matching chapter: the path, its velocity, the loss, an Euler sampler.

The convention checked is the book's (:mod:`ddpm_tutorial.flow_matching`, as in Stable
Diffusion 3 and diffusers): ``t = 0`` is data and ``t = 1`` is noise, ``x_t = (1 - t) x0 + t
noise``, the velocity is ``d x_t / dt = noise - x0``, the network is called with
``path.time_scale * t`` (1000 t), and a sampler of N Euler steps visits the N + 1 times of
:func:`~ddpm_tutorial.flow_matching.flow_times`, from 1 down to 0. Each checker runs the
reader's function on a small fixed input, compares it with the package's reference, prints
``<name> passed``, or raises ``AssertionError`` with a sentence that says what differs and,
where the result matches a usual mistake (the velocity's sign, the direction of t, DDPM's
square-root weights, a sampler that stops at t = 1/N, the network called with t instead of
1000 t), which one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..flow_matching import (
    FlowMatching,
    flow_matching_loss,
    flow_times,
    interpolate,
    sample_flow,
    velocity_target,
)
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
    "check_flow_interpolate",
    "check_velocity_target",
    "check_flow_matching_loss",
    "check_flow_euler_sampler",
]

_RTOL, _ATOL = 1e-4, 1e-5

_DIRECTION = (
    "The direction of t is reversed: in this book (as in Stable Diffusion 3 and diffusers) "
    "t = 0 is the data and t = 1 the noise; Lipman et al. and Liu et al. put the data at t = 1."
)
_SQRT = (
    "It mixes with square roots, DDPM's weights sqrt(alpha_bar) and sqrt(1 - alpha_bar): the "
    "straight path weighs the two ends by 1 - t and t, which sum to 1."
)
_SIGN = (
    "Its sign is flipped: x0 - noise is the velocity when the data sit at t = 1 (Lipman et al., "
    "Liu et al.); with the data at t = 0, d x_t / dt = noise - x0."
)
_TIME_SCALE = (
    "the network was called with t itself (every time it saw lies in [0, 1]); call it with "
    "path.time_scale * t = {scale:g} t (path.network_time(t)), the scale it was trained with, "
    "so that its step embedding sees the range 0..1000 of DDPM's steps."
)


def _randn(*shape: int, seed: int) -> Tensor:
    """A standard normal float32 tensor of the given shape, the same for the same seed."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _per_example(t: Tensor, like: Tensor) -> Tensor:
    """``t`` of shape (B,) reshaped to (B, 1, ..., 1) to broadcast against ``like``."""
    return t.reshape(-1, *([1] * (like.ndim - 1)))


# ---------------------------------------------------------------------------- the path
def check_flow_interpolate(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x0, noise, t) -> x_t``, the straight path ``(1 - t) x0 + t noise``.

    ``x0`` and ``noise`` have shape (4, 1, 3, 3) and ``t`` shape (4,), with the two ends
    ``t = 0`` (the data) and ``t = 1`` (the noise) among its values; ``x_t`` has the shape of
    ``x0`` (Liu et al. 2023; Lipman et al. 2023 with ``sigma_min = 0``, their data at
    ``t = 1``).
    """
    name = "check_flow_interpolate"
    x0, noise = _randn(4, 1, 3, 3, seed=0), _randn(4, 1, 3, 3, seed=1)
    t = torch.tensor([0.0, 0.3, 0.8, 1.0])
    expected = interpolate(x0, noise, t)
    out = call_reader(name, candidate, x0.clone(), noise.clone(), t.clone())
    actual = as_tensor(name, out, "x_t")
    tt = _per_example(t, x0)
    mistakes: list[Mistake] = [
        (tt * x0 + (1 - tt) * noise, _DIRECTION),
        ((1 - tt).sqrt() * x0 + tt.sqrt() * noise, _SQRT),
        (tt.sqrt() * x0 + (1 - tt).sqrt() * noise, _SQRT + " " + _DIRECTION),
        (x0 + tt * noise, "It adds t noise to x0 without shrinking x0 by 1 - t."),
    ]
    compare(
        name,
        actual,
        expected.double(),
        "x_t at t = (0, 0.3, 0.8, 1)",
        mistakes=mistakes,
        reference="(1 - t) x0 + t noise",
        hint="At t = 0 x_t must be x0 exactly, and at t = 1 the noise exactly.",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- the target
def check_velocity_target(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x0, noise) -> v``, the path's velocity ``d x_t / dt = noise - x0``.

    ``x0`` and ``noise`` have shape (3, 2); so must the result. It is what the network learns
    to predict, the regression target of the flow-matching loss.
    """
    name = "check_velocity_target"
    x0, noise = _randn(3, 2, seed=2), _randn(3, 2, seed=3)
    expected = velocity_target(x0, noise).double()
    out = call_reader(name, candidate, x0.clone(), noise.clone())
    actual = as_tensor(name, out, "the velocity")
    mistakes: list[Mistake] = [
        (-expected, _SIGN),
        (
            noise.double(),
            "It is the noise: that is DDPM's target; a flow network predicts the velocity, "
            "noise - x0.",
        ),
        (x0.double(), "It is x0, the clean example; the target is the velocity noise - x0."),
        (noise.double() + x0.double(), "It adds x0 to the noise; subtract it: noise - x0."),
    ]
    compare(
        name,
        actual,
        expected,
        "the velocity",
        mistakes=mistakes,
        reference="noise - x0",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- the loss
class RecordingVelocity:
    """A stand-in velocity network that records the times it is called with.

    ``model(x_t, s)`` with ``x_t`` of shape (B, ...) and ``s`` (the network's time, ``1000 t``)
    of shape (B,) returns ``tanh(0.7 x_t) (0.5 + u) + 0.2 u - 0.3 (1 - u)^2`` with
    ``u = s / 1000``, the shape of ``x_t``: it depends on both, so a call at the wrong point
    or the wrong time changes the result.
    """

    def __init__(self, time_scale: float = 1000.0) -> None:
        self.time_scale = time_scale
        self.times: list[list[float]] = []

    def value(self, x_t: Tensor, s: Tensor) -> Tensor:
        """The velocity at ``(x_t, s)``, without recording the call."""
        u = _per_example(s.to(x_t.dtype) / self.time_scale, x_t)
        return torch.tanh(0.7 * x_t) * (0.5 + u) + 0.2 * u - 0.3 * (1 - u) ** 2

    def __call__(self, x_t: Tensor, s: Any, *rest: Any, **kwargs: Any) -> Tensor:
        B = x_t.shape[0]
        if not isinstance(s, Tensor) or s.shape != (B,) or not s.is_floating_point():
            got = f"shape {tuple(s.shape)}, {s.dtype}" if isinstance(s, Tensor) else repr(s)
            raise StandInMisuse(
                f"the model must be called as model(x_t, s) with s a float tensor of shape "
                f"({B},), one network time per example; it got {got}. Build it with "
                f"torch.full(({B},), {self.time_scale:g} * t)."
            )
        self.times.append([float(v) for v in s.detach().cpu()])
        return self.value(x_t, s)


def _loss_with(
    model: RecordingVelocity, x_t: Tensor, s: Tensor, target: Tensor, mean: bool = True
) -> Tensor:
    """The squared error of the stand-in's velocity at ``(x_t, s)`` against ``target``."""
    err = (model.value(x_t, s) - target).double().pow(2)
    return err.mean() if mean else err.sum()


def check_flow_matching_loss(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(model, x0, t, noise, path) -> loss``, the flow-matching loss.

    ``|| (noise - x0) - v(x_t, 1000 t) ||^2`` averaged over every number (``F.mse_loss``),
    with ``x_t = (1 - t) x0 + t noise`` (Lipman et al. 2023, conditional flow matching with
    the straight path; Liu et al. 2023). ``x0`` and ``noise`` have shape (5, 1, 2, 2), ``t``
    shape (5,); ``model`` is a stand-in called as ``model(x_t, s)`` with ``s =
    path.time_scale * t``; ``path`` is a :class:`~ddpm_tutorial.flow_matching.FlowMatching`.
    """
    name = "check_flow_matching_loss"
    path = FlowMatching(time_sampling="uniform")
    x0, noise = _randn(5, 1, 2, 2, seed=4), _randn(5, 1, 2, 2, seed=5)
    t = torch.tensor([0.05, 0.3, 0.5, 0.72, 0.95])
    ref_model = RecordingVelocity(path.time_scale)
    expected = flow_matching_loss(ref_model, x0, t, noise, path).double()
    model = RecordingVelocity(path.time_scale)
    out = call_reader(name, candidate, model, x0.clone(), t.clone(), noise.clone(), path)
    actual = as_scalar(name, out, "the loss")
    if not model.times:
        fail(name, "your loss never called the model; it must call model(x_t, 1000 t) once")
    seen = [v for call in model.times for v in call]
    if max(seen) <= 1.0 + 1e-6:
        fail(name, _TIME_SCALE.format(scale=path.time_scale))
    tt = _per_example(t, x0)
    s = path.network_time(t)
    x_t = interpolate(x0, noise, t)
    x_rev = tt * x0 + (1 - tt) * noise
    x_sqrt = (1 - tt).sqrt() * x0 + tt.sqrt() * noise
    target = velocity_target(x0, noise)
    mistakes: list[Mistake] = [
        (_loss_with(model, x_t, s, -target), "The target's sign is flipped. " + _SIGN),
        (_loss_with(model, x_rev, s, target), "x_t is built the wrong way round. " + _DIRECTION),
        (
            _loss_with(model, x_rev, path.network_time(1 - t), -target),
            _DIRECTION + " (Its x_t, network time and target all follow that other convention.)",
        ),
        (_loss_with(model, x_t, path.network_time(1 - t), target), _DIRECTION),
        (_loss_with(model, x_sqrt, s, target), "x_t is built with square roots. " + _SQRT),
        (_loss_with(model, x_t, s, noise), "The target is the noise (DDPM's); it is noise - x0."),
        (
            _loss_with(model, x_t, s, target, mean=False),
            "It sums the squared errors; take their mean over every number (F.mse_loss).",
        ),
    ]
    compare(
        name,
        actual,
        expected,
        "the loss",
        mistakes=mistakes,
        reference="F.mse_loss(model(x_t, 1000 t), noise - x0)",
        rtol=_RTOL,
        atol=_ATOL,
    )
    passed(name)


# ---------------------------------------------------------------------------- a sampler
def _euler(model: RecordingVelocity, x: Tensor, times: list[float], sign: float = 1.0) -> Tensor:
    """Euler steps of ``dx/dt = v`` over ``times`` (``sign=-1``: each step taken backwards)."""
    for t, t_next in zip(times, times[1:]):
        s = torch.full((x.shape[0],), model.time_scale * t)
        x = x + sign * (t_next - t) * model.value(x, s)
    return x


def check_flow_euler_sampler(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(model, path, x_T, num_steps) -> x0``: N Euler steps from noise to data.

    The sampler starts from ``x_T`` at ``t = 1``, calls ``model(x, path.time_scale * t)`` at
    ``t = 1, (N-1)/N, ..., 1/N`` (``s`` a float tensor of shape (B,)) and steps ``x <- x +
    (t_next - t) v`` down to ``t = 0``: the N + 1 times of ``flow_times(N)``, as
    :func:`~ddpm_tutorial.flow_matching.sample_flow` does. ``x_T`` has shape (4, 2) and
    ``num_steps`` is 4, then 1.
    """
    name = "check_flow_euler_sampler"
    path = FlowMatching(time_sampling="uniform")
    x_T = _randn(4, 2, seed=6)
    for N in (4, 1):
        grid = flow_times(N)
        reference = RecordingVelocity(path.time_scale)
        expected = sample_flow(reference, path, x_T.shape, num_steps=N, x_T=x_T.clone()).double()
        model = RecordingVelocity(path.time_scale)
        out = call_reader(name, candidate, model, path, x_T.clone(), N)
        actual = as_tensor(name, out, "the sample", first_of_tuple=True)
        seen = [call[0] for call in model.times]
        want = [path.time_scale * t for t in grid[:-1]]
        if seen and max(seen) <= 1.0 + 1e-6:
            fail(name, _TIME_SCALE.format(scale=path.time_scale))
        mistakes: list[Mistake] = [
            (
                _euler(model, x_T, grid[:-1]).double(),
                f"It matches a sampler that stops at t = 1/N = {1 / N:g}: the last step must go "
                "on to t = 0, so N steps visit N + 1 times (torch.linspace(1, 0, N + 1)).",
            ),
            (
                _euler(model, x_T, torch.linspace(1, 0, N).tolist()).double(),
                "It matches torch.linspace(1, 0, N): N times make only N - 1 steps; N steps "
                "need N + 1 times, torch.linspace(1, 0, N + 1).",
            ),
            (
                _euler(model, x_T, grid, sign=-1.0).double(),
                "Each step moves the wrong way: t decreases, so x <- x + (t_next - t) v = x - "
                "|dt| v; a step of + |dt| v walks back toward the noise.",
            ),
            (
                _euler(model, x_T, grid[::-1]).double(),
                "It integrates from t = 0 up to t = 1. " + _DIRECTION + " Sampling starts from "
                "the noise at t = 1.",
            ),
        ]
        matched = [
            s for wrong, s in mistakes if close(actual, torch.as_tensor(wrong), _RTOL, _ATOL)
        ]
        if len(seen) != len(want) or not close(torch.tensor(seen), torch.tensor(want), 1e-5, 1e-3):
            shown = [round(v, 3) for v in seen]
            fail(
                name,
                f"with num_steps = {N} the network must be called at network times "
                f"{[round(v, 3) for v in want]} (1000 t for t = 1, ..., 1/N); yours was called "
                f"at {shown}." + (" " + " ".join(matched) if matched else ""),
            )
        compare(
            name,
            actual,
            expected,
            f"with num_steps = {N}, your sample",
            mistakes=mistakes,
            reference="sample_flow(..., solver='euler')",
            rtol=_RTOL,
            atol=_ATOL,
        )
    passed(name)
