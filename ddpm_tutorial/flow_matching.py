"""Flow matching: a straight path between data and noise, and a network that learns its velocity.

The convention of this book (and of Stable Diffusion 3 and diffusers'
``FlowMatchEulerDiscreteScheduler``), in one line each:

* time runs from data to noise, like DDPM's ``t``: ``t = 0`` is data, ``t = 1`` is noise;
* the path is a straight line (Liu et al. 2023, sec. 2.1; Lipman et al. 2023, eq. 22 with
  ``sigma_min = 0``; Esser et al. 2024, eq. 13, "Rectified Flow"): ``x_t = (1 - t) x0 + t noise``;
* the network predicts the velocity of that path, ``dx_t/dt = noise - x0`` (Liu et al.'s
  objective, sec. 2.1, with their ``X_1`` the data and ``X_0`` the noise, runs the other way:
  their velocity is ``x0 - noise``, the negative of ours);
* the loss is ``|| (noise - x0) - v(x_t, t) ||^2`` (conditional flow matching, Lipman et al.
  2023, eq. 9 and 23);
* sampling integrates the ODE ``dx/dt = v(x, t)`` from ``t = 1`` (noise) down to ``t = 0``
  (data): an Euler step is ``x_{t'} = x_t + (t' - t) v(x_t, t)`` with ``t' < t``.

The network sees ``time_scale * t`` (1000 t by default), so the UNet's sinusoidal step
embedding, built for DDPM's steps 0..999, sees the same range (diffusers passes
``sigma * num_train_timesteps`` likewise). :class:`FlowMatching` holds these choices and the
distribution of training times: uniform, or the logit-normal of Stable Diffusion 3
(Esser et al. 2024, sec. 3.1, eq. 19: ``t = sigmoid(n)``, ``n ~ N(m, s^2)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from ._validation import check_images, check_same_shape

__all__ = [
    "FLOW_SOLVERS",
    "FlowMatching",
    "TIME_SAMPLINGS",
    "clip_velocity",
    "flow_euler_step",
    "flow_heun_step",
    "flow_matching_loss",
    "flow_times",
    "guided_velocity",
    "interpolate",
    "sample_flow",
    "straightness",
    "velocity_target",
    "x0_from_velocity",
]

Velocity = Callable[..., Tensor]
TimeSampling = Literal["uniform", "logit-normal"]
TIME_SAMPLINGS: tuple[str, ...] = get_args(TimeSampling)
FlowSolver = Literal["euler", "heun"]
FLOW_SOLVERS: tuple[str, ...] = get_args(FlowSolver)
#: the ``schedule.kind`` a flow-matching checkpoint's card records
FLOW_KIND = "flow-matching"


@dataclass(frozen=True)
class FlowMatching:
    """The straight path of rectified flow and how training draws its times.

    Attributes:
        time_sampling: ``"uniform"`` (``t ~ U(0, 1)``, Liu et al. 2023) or ``"logit-normal"``
            (``t = sigmoid(n)``, ``n ~ N(logit_mean, logit_std^2)``; Esser et al. 2024, eq. 19,
            whose ``m = 0, s = 1`` ranks first overall in their Table 1).
        logit_mean, logit_std: ``m`` and ``s`` of the logit-normal.
        time_scale: the network is called with ``time_scale * t``.
    """

    time_sampling: TimeSampling = "logit-normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    time_scale: float = 1000.0
    kind: str = FLOW_KIND

    def __post_init__(self) -> None:
        if self.time_sampling not in TIME_SAMPLINGS:
            raise ValueError(
                f"unknown time sampling {self.time_sampling!r}; choose one of {', '.join(TIME_SAMPLINGS)}"
            )
        if self.logit_std <= 0:
            raise ValueError(f"logit_std must be > 0; got {self.logit_std}")
        if self.time_scale <= 0:
            raise ValueError(f"time_scale must be > 0; got {self.time_scale}")
        if self.kind != FLOW_KIND:
            raise ValueError(f"kind must be {FLOW_KIND!r}; got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields a model card stores under ``schedule``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FlowMatching:
        """Rebuild from :meth:`to_dict` (unknown keys are an error)."""
        return cls(**values)

    def sample_times(
        self,
        batch_size: int,
        *,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Training times ``t`` in (0, 1), float32, shape (B,)."""
        gen_device = generator.device if generator is not None else device
        if self.time_sampling == "uniform":
            t = torch.rand(batch_size, generator=generator, device=gen_device)
        else:
            n = torch.randn(batch_size, generator=generator, device=gen_device)
            t = torch.sigmoid(self.logit_mean + self.logit_std * n)
        return t.to(device)

    def time_density(self, t: Tensor) -> Tensor:
        """The density of the training times at ``t`` in (0, 1) (Esser et al. 2024, eq. 19)."""
        if self.time_sampling == "uniform":
            return torch.ones_like(t)
        logit = torch.log(t) - torch.log1p(-t)
        z = (logit - self.logit_mean) / self.logit_std
        return torch.exp(-0.5 * z**2) / (self.logit_std * math.sqrt(2 * math.pi) * t * (1 - t))

    def network_time(self, t: Tensor) -> Tensor:
        """What the network is called with: ``time_scale * t``, float32, shape (B,)."""
        return (self.time_scale * t).float()


def _per_example(t: Tensor, like: Tensor) -> Tensor:
    if t.ndim != 1 or t.shape[0] != like.shape[0]:
        raise ValueError(
            f"t must have shape ({like.shape[0]},), one time per example; got {tuple(t.shape)}"
        )
    return t.to(device=like.device, dtype=like.dtype).view(-1, *([1] * (like.ndim - 1)))


def interpolate(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """The point at time ``t`` on the straight path: ``x_t = (1 - t) x0 + t noise``.

    Args:
        x0: clean examples, shape (B, ...).
        noise: standard normal noise, shape of ``x0``.
        t: times in [0, 1], shape (B,).

    Returns:
        x_t, shape of ``x0``.
    """
    check_same_shape(noise, x0, "noise", "x0")
    tt = _per_example(t, x0)
    return (1 - tt) * x0 + tt * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """The path's velocity ``d x_t / dt = noise - x0`` (the regression target)."""
    check_same_shape(noise, x0, "noise", "x0")
    return noise - x0


def x0_from_velocity(x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
    """The clean example a velocity implies: follow it straight to ``t = 0``, ``x_t - t v``."""
    check_same_shape(v, x_t, "v", "x_t")
    return x_t - _per_example(t, x_t) * v


def flow_matching_loss(
    model: Velocity,
    x0: Tensor,
    t: Tensor,
    noise: Tensor,
    path: FlowMatching,
    *,
    cond: Any = None,
    keep: Tensor | None = None,
) -> Tensor:
    """``|| (noise - x0) - v(x_t, t) ||^2`` for given draws (Lipman et al. 2023, eq. 23).

    Args:
        model: a velocity network ``model(x_t, time_scale * t[, cond, cond_mask=keep])``
            returning the shape of ``x_t``.
        x0: clean examples, shape (B, C, H, W) or (B, D).
        t: times in (0, 1), float, shape (B,).
        noise: standard normal noise, shape of ``x0``.
        path: the :class:`FlowMatching` settings (the network's time scale).
        cond, keep: the condition and the (B,) bool mask of kept conditions, as in
            :func:`~ddpm_tutorial.losses.denoising_loss`.

    Returns:
        The mean squared error in float32, a scalar tensor.
    """
    x_t = interpolate(x0, noise, t)
    s = path.network_time(t).to(x0.device)
    v_pred = model(x_t, s) if cond is None else model(x_t, s, cond, cond_mask=keep)
    target = velocity_target(x0, noise)
    if v_pred.shape != target.shape:
        raise ValueError(
            f"the model returned shape {tuple(v_pred.shape)}; a velocity network must return "
            f"the shape of x_t, {tuple(target.shape)}"
        )
    return F.mse_loss(v_pred.float(), target.float())


def flow_times(num_steps: int, *, shift: float = 1.0) -> list[float]:
    """The times a sampler visits, from 1 (noise) down to 0 (data): ``num_steps + 1`` values.

    Evenly spaced, ``t_i = 1 - i / num_steps``, then optionally shifted toward the noise end
    by Stable Diffusion 3's ``t -> shift t / (1 + (shift - 1) t)`` (Esser et al. 2024, sec. 5.3.2,
    eq. 23), which spends more of the steps at high noise.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an int >= 1; got {num_steps!r}")
    if shift <= 0:
        raise ValueError(f"shift must be > 0; got {shift}")
    out = []
    for i in range(num_steps + 1):
        t = 1.0 - i / num_steps
        out.append(shift * t / (1 + (shift - 1) * t))
    return out


def guided_velocity(
    model: Velocity,
    x_t: Tensor,
    t: Tensor,
    path: FlowMatching,
    cond: Any = None,
    guidance_scale: float = 1.0,
) -> Tensor:
    """The velocity at ``(x_t, t)``, with classifier-free guidance when a condition is given.

    ``v = v_uncond + w (v_cond - v_uncond)``: the same combination as for the noise (Ho &
    Salimans 2022); diffusers' ``StableDiffusion3Pipeline`` samples SD3 this way. ``w = 1``: no guidance.

    Args:
        t: times in [0, 1], shape (B,) (the network sees ``path.time_scale * t``).
    """
    s = path.network_time(t)
    if cond is None:
        if guidance_scale != 1.0:
            raise ValueError(
                f"guidance_scale = {guidance_scale} needs a condition to guide toward; got cond=None"
            )
        v = model(x_t, s)
    elif guidance_scale == 1.0:
        v = model(x_t, s, cond)
    elif guidance_scale == 0.0:
        v = model(x_t, s, None)
    else:
        v_cond, v_uncond = model(x_t, s, cond), model(x_t, s, None)
        v = v_uncond + guidance_scale * (v_cond - v_uncond)
    if not isinstance(v, Tensor) or v.shape != x_t.shape:
        shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(
            f"the model returned {shape}; a velocity network must return the shape of x_t, "
            f"{tuple(x_t.shape)}"
        )
    return v


def clip_velocity(v: Tensor, x_t: Tensor, t: float, clip_x0: bool) -> Tensor:
    """The velocity with its implied clean image clipped to [-1, 1].

    As diffusers' ``DDIMScheduler`` does with ``clip_sample`` and ``use_clipped_model_output``
    (and this book's ``ddim_step`` with ``clip_x0``), the noise is re-derived
    from ``x_t`` and the clipped image, ``noise = (x_t - (1 - t) x0) / t``, so that ``x_t``
    stays on the path between them; an Euler step to ``t = 0`` then lands on the clipped image.
    """
    if not clip_x0 or t <= 0:
        return v
    x0 = (x_t - t * v).clamp(-1.0, 1.0)
    noise = (x_t - (1 - t) * x0) / t
    return noise - x0


def flow_euler_step(x_t: Tensor, t: float, t_next: float, v: Tensor) -> Tensor:
    """One Euler step of ``dx/dt = v``: ``x_{t_next} = x_t + (t_next - t) v`` (``t_next < t``)."""
    check_same_shape(v, x_t, "v", "x_t")
    return x_t + (t_next - t) * v


def flow_heun_step(
    x_t: Tensor, t: float, t_next: float, v: Tensor, velocity_at: Callable[[Tensor, float], Tensor]
) -> Tensor:
    """One Heun step (the trapezoidal rule; Karras et al. 2022, Algorithm 1, lines 5-8).

    An Euler step to ``t_next``, the velocity there, and the step redone with the mean of the
    two velocities. At ``t_next = 0`` it is the Euler step alone (Algorithm 1, line 6), so a
    Heun sampler of N steps calls the network ``2 N - 1`` times.
    """
    x_euler = flow_euler_step(x_t, t, t_next, v)
    if t_next <= 0:
        return x_euler
    v_next = velocity_at(x_euler, t_next)
    return x_t + (t_next - t) * 0.5 * (v + v_next)


@torch.no_grad()
def sample_flow(
    model: Velocity,
    path: FlowMatching,
    shape: Sequence[int],
    *,
    num_steps: int = 50,
    solver: FlowSolver = "euler",
    shift: float = 1.0,
    cond: Any = None,
    guidance_scale: float = 1.0,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    x_T: Tensor | None = None,
    times: Sequence[float] | None = None,
    return_path: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Integrate ``dx/dt = v(x, t)`` from noise at ``t = 1`` to data at ``t = 0``.

    Args:
        model: the velocity network.
        path: its :class:`FlowMatching` settings.
        shape: (B, C, H, W) or (B, D).
        num_steps: steps of the solver (network calls: N for Euler, 2N - 1 for Heun).
        solver: ``"euler"`` or ``"heun"``.
        shift: SD3's time shift of the grid (:func:`flow_times`); 1 = evenly spaced.
        cond, guidance_scale: the condition and classifier-free guidance's ``w``.
        clip_x0: clip the clean image each velocity implies to [-1, 1].
        generator, device: for the initial noise.
        x_T: start from this noise instead of drawing it.
        times: the times to visit, from 1 down to 0 (default: :func:`flow_times`).
        return_path: also return every state, shape ``(num_steps + 1, *shape)``.

    Returns:
        x0 of shape ``shape``, or ``(x0, states)``.
    """
    if solver not in FLOW_SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(FLOW_SOLVERS)}")
    if guidance_scale < 0:
        raise ValueError(f"guidance_scale must be >= 0; got {guidance_scale}")
    grid = list(times) if times is not None else flow_times(num_steps, shift=shift)
    if len(grid) < 2 or any(b >= a for a, b in zip(grid, grid[1:])):
        raise ValueError(f"times must decrease and hold at least two values; got {grid}")
    if x_T is not None:
        check_images(x_T, "x_T")
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T shape {tuple(x_T.shape)} != requested shape {tuple(shape)}")
        x = x_T.to(device) if device is not None else x_T
    else:
        gen_device = generator.device if generator is not None else (device or "cpu")
        x = torch.randn(tuple(shape), generator=generator, device=gen_device)
        x = x.to(device or gen_device)

    def velocity_at(x_t: Tensor, t: float) -> Tensor:
        tt = torch.full((x_t.shape[0],), t, device=x_t.device)
        v = guided_velocity(model, x_t, tt, path, cond, guidance_scale)
        return clip_velocity(v, x_t, t, clip_x0)

    states = [x.detach().cpu()] if return_path else []
    for t, t_next in zip(grid, grid[1:]):
        v = velocity_at(x, t)
        if solver == "euler":
            x = flow_euler_step(x, t, t_next, v)
        else:
            x = flow_heun_step(x, t, t_next, v, velocity_at)
        if return_path:
            states.append(x.detach().cpu())
    return (x, torch.stack(states)) if return_path else x


def straightness(states: Tensor, times: Sequence[float]) -> Tensor:
    """How far a sampled path bends: the straightness of Liu et al. (2023, sec. 2.2), on a grid.

    ``S = integral_0^1 E || (x_1 - x_0) - dx_t/dt ||^2 dt``, with ``dx_t/dt`` the velocity of
    each step, ``(x_{k+1} - x_k) / (t_{k+1} - t_k)``, and ``x_1 - x_0`` the velocity of the
    straight line from the start to the end. A straight path has ``S = 0``, and then one Euler
    step is exact.

    Args:
        states: the path of :func:`sample_flow` (``return_path=True``), shape (K + 1, B, ...).
        times: the K + 1 times of the states (from 1 down to 0).

    Returns:
        S per example, shape (B,): the mean over the squared difference's coordinates.
    """
    if states.shape[0] != len(times) or len(times) < 2:
        raise ValueError(
            f"states has {states.shape[0]} entries but times has {len(times)}; give one time "
            "per state, at least two"
        )
    t = torch.tensor(list(times), dtype=states.dtype)
    dt = (t[1:] - t[:-1]).view(-1, *([1] * (states.ndim - 1)))
    velocities = (states[1:] - states[:-1]) / dt  # (K, B, ...)
    overall = (states[-1] - states[0]) / (t[-1] - t[0])
    sq = (velocities - overall).pow(2).flatten(2).mean(dim=2)  # (K, B)
    weights = (t[:-1] - t[1:]).abs() / (t[0] - t[-1]).abs()  # each step's share of [0, 1]
    return (weights[:, None] * sq).sum(dim=0)
