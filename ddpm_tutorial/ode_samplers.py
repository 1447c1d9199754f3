"""Samplers as solvers of the probability-flow ODE, for the book's noise-predicting networks.

The view of Karras et al. (2022, "EDM", sec. 2 and Table 1) and of Song et al. (2021, DDIM,
sec. 4.3): divide ``x_t = sqrt(ab) x0 + sqrt(1 - ab) noise`` (``ab = alpha_bars[t]``) by
``sqrt(ab)`` and measure the noise by

    ``sigma_t = sqrt((1 - ab) / ab)``,  ``x_bar = x_t / sqrt(ab) = x0 + sigma noise``.

In these variables the deterministic sampler is the ODE ``d x_bar = eps(x_bar, sigma) d sigma``
(DDIM's eq. 14), integrated from the largest sigma down to ``sigma = 0``, where ``x_bar`` is
the image. The network still sees ``x_t = x_bar / sqrt(1 + sigma^2)`` and a timestep, as it
did in training. This module solves the ODE three ways:

* :func:`sample_euler`: Euler's method, ``x_bar' = x_bar + (sigma' - sigma) eps``. Written as
  ``x_bar' = x0_pred + sigma' eps``, it is DDIM's update with ``eta = 0`` (Song et al. 2021,
  eq. 13): DDIM is Euler's method on this ODE.
* :func:`sample_heun`: Heun's method (Karras et al. 2022, Algorithm 1): an Euler step, the
  slope at its end, and the step redone with the mean slope; the last step, to ``sigma = 0``,
  stays Euler's. Second order, ``2 N - 1`` network calls for N steps.
* :func:`sample_dpm_solver_pp`: DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), a multistep
  method on the clean-image prediction; one call per step, second order.

Which sigmas to visit is a separate choice: :func:`timestep_spacing` (``"linspace"``,
``"leading"``, ``"trailing"``), optionally replaced by the EDM discretisation
(:func:`karras_sigmas`, eq. 5). Every choice here follows diffusers'
``EulerDiscreteScheduler``, ``HeunDiscreteScheduler`` and ``DPMSolverMultistepScheduler``, and
the unit tests check the samples against theirs.

=================  ==========================================  ==============================
convention         this module                                 note
=================  ==========================================  ==============================
noise level        ``sigma = sqrt((1 - ab) / ab)``              EDM's sigma, not sqrt(1 - ab)
state              ``x_bar = x_t / sqrt(ab)``                   the network gets ``x_t``
start              ``x_bar = x_T sqrt(1 + sigma_max^2)``        ``x_T ~ N(0, I)``, as DDPM's
end                ``sigma = 0``: ``x_bar`` is the image        one last step to sigma = 0
network time       the timestep of each sigma, 0-based          fractional with karras
=================  ==========================================  ==============================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import Tensor

from ._validation import check_same_shape
from .parameterizations import PREDICTIONS, Prediction
from .reverse_process import (
    _check_sampling_args,
    _initial_noise,
    _progress,
    at_precision,
    guided_noise,
)
from .schedules import NoiseSchedule

__all__ = [
    "ODE_SAMPLERS",
    "SAMPLERS",
    "SPACINGS",
    "dpm_solver_pp_step",
    "euler_step",
    "heun_step",
    "karras_sigmas",
    "network_calls",
    "sample_dpm_solver_pp",
    "sample_euler",
    "sample_heun",
    "sampling_grid",
    "sigma_at",
    "sigmas_of",
    "timestep_of_sigma",
    "timestep_spacing",
    "x0_and_noise_at_sigma",
]

Denoiser = Callable[..., Tensor]
Spacing = Literal["linspace", "leading", "trailing"]
SPACINGS: tuple[str, ...] = get_args(Spacing)
#: every sampler of the book that :func:`network_calls` counts
SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "euler", "heun", "dpm-solver++")


# ---------------------------------------------------------------------------- sigmas
def sigmas_of(schedule: NoiseSchedule) -> Tensor:
    """EDM's noise level of every step: ``sigma_t = sqrt((1 - alpha_bars[t]) / alpha_bars[t])``.

    ``x_t / sqrt(alpha_bars[t]) = x0 + sigma_t noise`` (Karras et al. 2022, Table 1, VP column
    with ``s(t) = 1 / sqrt(1 + sigma^2)``; Song et al. 2021, sec. 4.3). ``sigma_t`` rises with
    ``t``; it is ``inf`` where ``alpha_bars[t] = 0`` (zero terminal SNR).

    Returns:
        float64 tensor of shape (T,); the book's linear schedule runs from 0.01 to 157.
    """
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule; got {type(schedule).__name__}")
    ab = schedule.alpha_bars
    return ((1.0 - ab) / ab).sqrt()


def _check_num_steps(num_train_steps: int, num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"num_steps must be an int; got {num_steps!r}")
    if not 1 <= num_steps <= num_train_steps:
        raise ValueError(
            f"num_steps must lie in [1, {num_train_steps}] (the schedule's T); got {num_steps}"
        )


def timestep_spacing(num_train_steps: int, num_steps: int, spacing: Spacing = "linspace") -> Tensor:
    """The timesteps a sampler visits, from high noise to low: ``num_steps`` values in [0, T).

    The three options of diffusers' ``timestep_spacing`` (``EulerDiscreteScheduler``; the
    names annotate Table 2 of Lin et al. 2024), with ``T = num_train_steps``, ``N = num_steps``:

    =============  ===================================================  ====================
    spacing        timesteps                                            T = 1000, N = 10
    =============  ===================================================  ====================
    ``linspace``   ``linspace(0, T - 1, N)``, fractional (float32)      999, 888, ..., 111, 0
    ``leading``    ``(T // N) * [N - 1, ..., 1, 0]``                    900, 800, ..., 100, 0
    ``trailing``   ``round(T - i T / N) - 1`` for i = 0..N-1            999, 899, ..., 199, 99
    =============  ===================================================  ====================

    ``leading`` does not start at the last step unless ``N = T`` (it starts at 900 here, where
    the linear schedule still keeps signal), and both ``linspace`` and ``leading`` start at
    step 0 when ``N = 1``.
    Lin et al. (2024, sec. 3.3) recommend ``trailing``: sampling should start from the last
    step, the one training saw as (nearly) pure noise. This package's DDIM
    (:func:`~ddpm_tutorial.reverse_process.ddim_timesteps`) visits ``linspace`` rounded to
    whole steps (diffusers' ``DDIMScheduler`` with ``timestep_spacing="linspace"``), except
    that for ``N = 1`` it takes step ``T - 1``.

    The values are computed with numpy exactly as diffusers computes them (ties in the rounding
    included), with one exception: for ``trailing`` numpy's ``arange`` with a fractional
    stride sometimes returns one value too many (``N = 61, 103, 121, ...`` for ``T = 1000``),
    and diffusers then visits a step ``-1``; here the ``N`` values stop before it.

    Args:
        num_train_steps: T of the schedule, at least 1.
        num_steps: N, in [1, T].
        spacing: ``"linspace"``, ``"leading"`` or ``"trailing"``.

    Returns:
        A float64 tensor of shape (N,), strictly decreasing; whole numbers except for
        ``linspace`` when ``N - 1`` does not divide ``T - 1``.
    """
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    if isinstance(num_train_steps, bool) or not isinstance(num_train_steps, int):
        raise TypeError(f"num_train_steps must be an int; got {num_train_steps!r}")
    if num_train_steps < 1:
        raise ValueError(f"num_train_steps must be at least 1; got {num_train_steps}")
    _check_num_steps(num_train_steps, num_steps)
    T, N = num_train_steps, num_steps
    if spacing == "linspace":
        steps = np.linspace(0, T - 1, N, dtype=np.float32)[::-1]
    elif spacing == "leading":
        steps = (np.arange(0, N) * (T // N)).round()[::-1].astype(np.float32)
    else:
        steps = np.arange(T, 0, -T / N)[:N].round().astype(np.float32) - 1
    return torch.from_numpy(steps.astype(np.float64))


def sigma_at(schedule: NoiseSchedule, timesteps: Tensor) -> Tensor:
    """Sigma at (possibly fractional) timesteps, linear in sigma between whole steps.

    ``sigma(t) = (1 - w) sigma[i] + w sigma[i + 1]`` with ``i = floor(t)``, ``w = t - i``: what
    diffusers' Euler and Heun schedulers do (``np.interp``) for a spaced timestep. At whole
    steps it is ``sigmas_of(schedule)[t]``.

    Args:
        timesteps: values in [0, T - 1], any shape.

    Returns:
        float64 tensor of the shape of ``timesteps``.
    """
    table = sigmas_of(schedule)
    t = torch.as_tensor(timesteps, dtype=torch.float64)
    if t.numel() and (float(t.min()) < 0 or float(t.max()) > schedule.num_steps - 1):
        bad = float(t.min()) if float(t.min()) < 0 else float(t.max())
        raise ValueError(f"timestep {bad:g} is out of range [0, {schedule.num_steps - 1}]")
    low = t.floor().long().clamp(max=max(schedule.num_steps - 2, 0))
    high = (low + 1).clamp(max=schedule.num_steps - 1)
    w = t - low
    between = (1 - w) * table[low] + w * table[high]
    whole = t == t.round()
    return torch.where(whole, table[t.round().long()], between)


def timestep_of_sigma(schedule: NoiseSchedule, sigmas: Tensor) -> Tensor:
    """The fractional timestep of each sigma, by interpolating ``log sigma`` between steps.

    The inverse of ``log sigma(t)`` linear between whole steps: what diffusers does with
    ``use_karras_sigmas=True`` (its ``_sigma_to_t``) to call a discrete-time network at a sigma
    that lies between two of its training steps. Sigmas outside the schedule's range map to
    its ends, 0 and T - 1.

    Args:
        sigmas: noise levels >= 0, shape (K,).

    Returns:
        float64 tensor of shape (K,), values in [0, T - 1].
    """
    log_table = sigmas_of(schedule).log()
    if schedule.num_steps == 1:
        return torch.zeros(len(sigmas), dtype=torch.float64)
    log_sigma = torch.as_tensor(sigmas, dtype=torch.float64).clamp(min=1e-10).log()
    count = torch.searchsorted(log_table, log_sigma, right=True)  # steps with log_table <= it
    low = (count - 1).clamp(min=0, max=schedule.num_steps - 2)
    lo, hi = log_table[low], log_table[low + 1]
    w = ((lo - log_sigma) / (lo - hi)).clamp(0.0, 1.0)
    return low + w


def karras_sigmas(sigma_min: float, sigma_max: float, num_steps: int, rho: float = 7.0) -> Tensor:
    """The EDM time discretisation (Karras et al. 2022, eq. 5), ending with ``sigma_N = 0``.

    ``sigma_i = (sigma_max^(1/rho) + i / (N - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``
    for ``i < N``: evenly spaced in ``sigma^(1/rho)``, so that ``rho = 1`` spaces sigma evenly
    and a larger ``rho`` crowds the steps toward ``sigma_min``; Karras et al. (sec. 3) found
    that shorter steps near ``sigma_min`` sample better and use ``rho = 7``. For ``N = 1``
    the one step starts at ``sigma_max`` (as diffusers does).

    Args:
        sigma_min, sigma_max: the lowest and highest noise level, ``0 < sigma_min <= sigma_max``
            and finite.
        num_steps: N >= 1.
        rho: the exponent, > 0.

    Returns:
        float64 tensor of shape (N + 1,), decreasing, the last value 0.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an int >= 1; got {num_steps!r}")
    if not rho > 0:
        raise ValueError(f"rho must be > 0; got {rho}")
    if not 0 < sigma_min <= sigma_max < math.inf:
        raise ValueError(
            f"karras sigmas need 0 < sigma_min <= sigma_max < inf; got sigma_min = {sigma_min}, "
            f"sigma_max = {sigma_max}"
        )
    ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])


def sampling_grid(
    schedule: NoiseSchedule,
    num_steps: int,
    *,
    spacing: Spacing = "linspace",
    karras: bool = False,
    rho: float = 7.0,
) -> tuple[Tensor, Tensor]:
    """The timesteps and sigmas an ODE sampler visits: diffusers' ``set_timesteps``.

    The timesteps come from :func:`timestep_spacing` and their sigmas from :func:`sigma_at`.
    With ``karras=True`` the sigmas are replaced by :func:`karras_sigmas` between the lowest
    and the highest of those sigmas, and each is called with its fractional timestep
    (:func:`timestep_of_sigma`), as diffusers' ``use_karras_sigmas=True`` does.

    Returns:
        ``(timesteps, sigmas)``: float64 tensors of shapes (N,) and (N + 1,); the network is
        called at ``timesteps[i]`` with noise level ``sigmas[i]``, and ``sigmas[N] = 0``.
    """
    timesteps = timestep_spacing(schedule.num_steps, num_steps, spacing)
    sigmas = sigma_at(schedule, timesteps)
    if karras:
        sigmas = karras_sigmas(float(sigmas[-1]), float(sigmas[0]), num_steps, rho)
        return timestep_of_sigma(schedule, sigmas[:-1]), sigmas
    return timesteps, torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])


# ---------------------------------------------------------------------------- steps
def x0_and_noise_at_sigma(
    output: Tensor, x_bar: Tensor, sigma: float, prediction: Prediction = "eps"
) -> tuple[Tensor, Tensor]:
    """The clean image and the noise a network's output implies, at noise level ``sigma``.

    :func:`~ddpm_tutorial.parameterizations.x0_and_noise` written with ``x_bar = x0 + sigma
    noise`` instead of a whole step ``t``, so that it holds between steps too:
    ``eps``: ``x0 = x_bar - sigma eps``; ``x0``: ``eps = (x_bar - x0) / sigma``;
    ``v = sqrt(ab) eps - sqrt(1 - ab) x0`` with ``ab = 1 / (1 + sigma^2)``:
    ``x0 = x_bar / (1 + sigma^2) - sigma v / sqrt(1 + sigma^2)``.

    Args:
        output: what the network returned, shape of ``x_bar``.
        x_bar: the state, ``x_t / sqrt(ab)``, shape (B, ...).
        sigma: the noise level, > 0.

    Returns:
        ``(x0_pred, eps_pred)``, each of the shape of ``x_bar``.
    """
    check_same_shape(output, x_bar, "output", "x_bar")
    if prediction == "eps":
        return x_bar - sigma * output, output
    if prediction == "x0":
        return output, (x_bar - output) / sigma
    if prediction == "v":
        x0 = x_bar / (1 + sigma**2) - sigma / math.sqrt(1 + sigma**2) * output
        return x0, (x_bar - x0) / sigma
    raise ValueError(f"unknown prediction {prediction!r}; choose one of {', '.join(PREDICTIONS)}")


def euler_step(x_bar: Tensor, sigma: float, sigma_next: float, eps_pred: Tensor) -> Tensor:
    """One Euler step of ``d x_bar = eps d sigma``: ``x_bar + (sigma_next - sigma) eps_pred``.

    Since ``x_bar = x0_pred + sigma eps_pred``, this is ``x0_pred + sigma_next eps_pred``: the
    DDIM update (Song et al. 2021, eq. 13, ``eta = 0``) divided by ``sqrt(ab_next)``.

    Args:
        x_bar: the state at ``sigma``, shape (B, ...).
        sigma, sigma_next: the noise levels, ``sigma_next < sigma``.
        eps_pred: the predicted noise at ``(x_bar, sigma)``, shape of ``x_bar``.

    Returns:
        The state at ``sigma_next``, shape of ``x_bar``.
    """
    check_same_shape(eps_pred, x_bar, "eps_pred", "x_bar")
    return x_bar + (sigma_next - sigma) * eps_pred


def heun_step(
    x_bar: Tensor, sigma: float, sigma_next: float, eps_pred: Tensor, eps_next: Tensor
) -> Tensor:
    """Heun's correction (Karras et al. 2022, Algorithm 1, line 8): the mean of two slopes.

    ``x_bar + (sigma_next - sigma) (eps_pred + eps_next) / 2``, with ``eps_next`` the slope at
    the end of the Euler step (:func:`euler_step`) from ``x_bar``.
    """
    check_same_shape(eps_next, x_bar, "eps_next", "x_bar")
    return x_bar + (sigma_next - sigma) * 0.5 * (eps_pred + eps_next)


def dpm_solver_pp_step(
    x_bar: Tensor,
    sigma: float,
    sigma_next: float,
    x0_pred: Tensor,
    *,
    x0_prev: Tensor | None = None,
    sigma_prev: float | None = None,
) -> Tensor:
    """One step of DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), in ``x_bar`` and sigma.

    With ``alpha = 1 / sqrt(1 + sigma^2)``, the paper's ``sigma_t = sigma alpha`` and
    ``lambda = log(alpha / sigma_t) = -log sigma``, Algorithm 2's update
    ``x_{t_i} = (sigma_{t_i} / sigma_{t_{i-1}}) x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) D_i``
    divided by ``alpha_{t_i}`` reads

        ``x_bar' = (sigma' / sigma) x_bar + (1 - sigma' / sigma) D``,  ``h = log(sigma / sigma')``

    with ``D = x0_pred`` for the first-order step (then it equals :func:`euler_step`) and
    ``D = (1 + 1 / (2 r)) x0_pred - 1 / (2 r) x0_prev``, ``r = h_prev / h``, for the second.
    The step is first order when no previous prediction is given and when ``sigma_next = 0``
    (there ``h`` is infinite and ``x_bar' = x0_pred``), as diffusers' final step is.

    Args:
        x_bar: the state at ``sigma``, shape (B, ...).
        sigma, sigma_next: the noise levels, ``sigma_next < sigma``.
        x0_pred: the predicted clean image at ``(x_bar, sigma)``.
        x0_prev, sigma_prev: the prediction of the previous step and its noise level.

    Returns:
        The state at ``sigma_next``, shape of ``x_bar``.
    """
    check_same_shape(x0_pred, x_bar, "x0_pred", "x_bar")
    ratio = sigma_next / sigma  # e^{-h}
    if x0_prev is None or sigma_prev is None or sigma_next == 0:
        return ratio * x_bar + (1 - ratio) * x0_pred
    r = math.log(sigma_prev / sigma) / math.log(sigma / sigma_next)
    D = (1 + 1 / (2 * r)) * x0_pred - 1 / (2 * r) * x0_prev
    return ratio * x_bar + (1 - ratio) * D


# ---------------------------------------------------------------------------- samplers
class _Denoiser:
    """The network as the ODE sees it: ``(x_bar, grid index) -> (x0_pred, eps_pred)``."""

    def __init__(
        self,
        model: Denoiser,
        timesteps: Tensor,
        sigmas: Tensor,
        cond: Any,
        guidance_scale: float,
        clip_x0: bool,
        prediction: Prediction,
    ) -> None:
        whole = bool((timesteps == timesteps.round()).all())
        # int64 steps, the book's contract, when every timestep is whole; else float32
        self.times = timesteps.long() if whole else timesteps.float()
        self.sigmas = [float(s) for s in sigmas]
        self.model, self.cond, self.guidance_scale = model, cond, guidance_scale
        self.clip_x0, self.prediction = clip_x0, prediction

    def __call__(self, x_bar: Tensor, i: int) -> tuple[Tensor, Tensor]:
        sigma = self.sigmas[i]
        x_t = x_bar / math.sqrt(1 + sigma**2)
        t = torch.full((x_bar.shape[0],), self.times[i].item(), dtype=self.times.dtype)
        t = t.to(x_bar.device)
        output = guided_noise(self.model, x_t, t, self.cond, self.guidance_scale)
        x0, eps = x0_and_noise_at_sigma(output, x_bar, sigma, self.prediction)
        if self.clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x_bar - x0) / sigma
        return x0, eps


def _start(
    model: Denoiser,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    num_steps: int,
    spacing: Spacing,
    karras: bool,
    rho: float,
    cond: Any,
    guidance_scale: float,
    clip_x0: bool,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    x_T: Tensor | None,
    precision: str,
    prediction: Prediction,
) -> tuple[Tensor, list[float], _Denoiser]:
    """Check the arguments; return the starting ``x_bar``, the sigmas and the denoiser."""
    _check_sampling_args(schedule, shape, guidance_scale, prediction)
    if cond is None and guidance_scale != 1.0:
        raise ValueError(
            f"guidance_scale = {guidance_scale} needs a condition to guide toward; got cond=None"
        )
    timesteps, sigmas = sampling_grid(schedule, num_steps, spacing=spacing, karras=karras, rho=rho)
    if not math.isfinite(float(sigmas[0])):
        raise ValueError(
            f"the first step, t = {float(timesteps[0]):g}, has sigma = inf (alpha_bar = 0, zero "
            "terminal SNR): the ODE in sigma cannot start there; sample this schedule with "
            "reverse_process.sample_ddim(..., prediction='v')"
        )
    x_T = _initial_noise(shape, x_T, device, generator)
    denoise = _Denoiser(
        at_precision(model, precision, x_T.device),
        timesteps,
        sigmas,
        cond,
        guidance_scale,
        clip_x0,
        prediction,
    )
    # x_T ~ N(0, I) is x_t at the first step, so x_bar = x_T / sqrt(ab) = x_T sqrt(1 + sigma^2)
    return x_T * math.sqrt(1 + float(sigmas[0]) ** 2), denoise.sigmas, denoise


@torch.no_grad()
def sample_euler(
    model: Denoiser,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    *,
    num_steps: int = 50,
    spacing: Spacing = "linspace",
    karras: bool = False,
    rho: float = 7.0,
    cond: Any = None,
    guidance_scale: float = 1.0,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    x_T: Tensor | None = None,
    progress: bool = False,
    precision: str = "fp32",
    prediction: Prediction = "eps",
) -> Tensor:
    """Euler's method on ``d x_bar = eps d sigma``: diffusers' ``EulerDiscreteScheduler``.

    N steps, N network calls. With ``spacing="linspace"``, ``N >= 2`` and whole timesteps
    (``N - 1`` divides ``T - 1``) it draws the same samples as
    :func:`~ddpm_tutorial.reverse_process.sample_ddim` with ``eta = 0``: the steps are the same
    and so is the update (:func:`euler_step`).

    Args:
        model: denoiser ``model(x_t, t[, cond])``; ``t`` is int64 (B,) when every visited
            timestep is whole, else float32 (B,) with fractional steps, as diffusers passes.
        schedule: the schedule the model was trained with.
        shape: (B, C, H, W) or (B, D).
        num_steps: N, in [1, T].
        spacing: which timesteps to visit (:func:`timestep_spacing`).
        karras: visit the EDM sigmas of :func:`karras_sigmas` instead (:func:`sampling_grid`).
        rho: their exponent.
        cond, guidance_scale: the condition and classifier-free guidance's ``w``
            (:func:`~ddpm_tutorial.reverse_process.guided_noise`).
        clip_x0: clip each predicted clean image to [-1, 1] and take the noise it implies.
        generator, device, x_T: the starting noise ``x_T ~ N(0, I)`` (in ``x_t`` units).
        progress: show a progress bar.
        precision: the network's number format (:func:`~ddpm_tutorial.reverse_process.
            at_precision`).
        prediction: what the network returns: ``"eps"``, ``"x0"`` or ``"v"``.

    Returns:
        The images, shape ``shape``.
    """
    x_bar, sigmas, denoise = _start(
        model, schedule, shape, num_steps, spacing, karras, rho, cond, guidance_scale, clip_x0,
        generator, device, x_T, precision, prediction,
    )  # fmt: skip
    for i in _progress(range(num_steps), progress, num_steps):
        _, eps = denoise(x_bar, i)
        x_bar = euler_step(x_bar, sigmas[i], sigmas[i + 1], eps)
    return x_bar


@torch.no_grad()
def sample_heun(
    model: Denoiser,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    *,
    num_steps: int = 50,
    spacing: Spacing = "linspace",
    karras: bool = False,
    rho: float = 7.0,
    cond: Any = None,
    guidance_scale: float = 1.0,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    x_T: Tensor | None = None,
    progress: bool = False,
    precision: str = "fp32",
    prediction: Prediction = "eps",
) -> Tensor:
    """Heun's method (Karras et al. 2022, Algorithm 1, deterministic): ``HeunDiscreteScheduler``.

    Each step takes an Euler step, evaluates the slope at its end and redoes the step with the
    mean slope (:func:`heun_step`); the last step, to ``sigma = 0``, where the slope is not
    needed, stays Euler's (Algorithm 1, line 6). N steps call the network ``2 N - 1`` times.
    Arguments as in :func:`sample_euler`.

    Returns:
        The images, shape ``shape``.
    """
    x_bar, sigmas, denoise = _start(
        model, schedule, shape, num_steps, spacing, karras, rho, cond, guidance_scale, clip_x0,
        generator, device, x_T, precision, prediction,
    )  # fmt: skip
    for i in _progress(range(num_steps), progress, num_steps):
        _, eps = denoise(x_bar, i)
        x_euler = euler_step(x_bar, sigmas[i], sigmas[i + 1], eps)
        if sigmas[i + 1] == 0:
            x_bar = x_euler
            continue
        _, eps_next = denoise(x_euler, i + 1)
        x_bar = heun_step(x_bar, sigmas[i], sigmas[i + 1], eps, eps_next)
    return x_bar


@torch.no_grad()
def sample_dpm_solver_pp(
    model: Denoiser,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    *,
    num_steps: int = 20,
    spacing: Spacing = "linspace",
    karras: bool = False,
    rho: float = 7.0,
    cond: Any = None,
    guidance_scale: float = 1.0,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    x_T: Tensor | None = None,
    progress: bool = False,
    precision: str = "fp32",
    prediction: Prediction = "eps",
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): ``DPMSolverMultistepScheduler``.

    Multistep and second order on the clean-image prediction (:func:`dpm_solver_pp_step`):
    each step reuses the previous step's prediction, so N steps call the network N times. The
    first step has no previous prediction and is first order (Algorithm 2 starts so), and so is
    the last, to ``sigma = 0``, as in diffusers (``final_sigmas_type="zero"``; its
    ``lower_order_final`` does the same below 15 steps). With ``clip_x0`` the clipped
    prediction enters the update, as diffusers' ``thresholding`` does. Arguments as in
    :func:`sample_euler`; the grid is :func:`sampling_grid`'s, the same for all three samplers
    (diffusers' DPM-Solver defines ``linspace`` and ``leading`` differently: N + 1 points with
    the last dropped).

    Returns:
        The images, shape ``shape``.
    """
    x_bar, sigmas, denoise = _start(
        model, schedule, shape, num_steps, spacing, karras, rho, cond, guidance_scale, clip_x0,
        generator, device, x_T, precision, prediction,
    )  # fmt: skip
    x0_prev: Tensor | None = None
    for i in _progress(range(num_steps), progress, num_steps):
        x0, _ = denoise(x_bar, i)
        sigma_prev = sigmas[i - 1] if i > 0 else None
        x_bar = dpm_solver_pp_step(
            x_bar, sigmas[i], sigmas[i + 1], x0, x0_prev=x0_prev, sigma_prev=sigma_prev
        )
        x0_prev = x0
    return x_bar


#: the ODE samplers by the names ``sample --sampler`` and :func:`network_calls` use
ODE_SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "dpm-solver++": sample_dpm_solver_pp,
}


def network_calls(sampler: str, num_steps: int) -> int:
    """How many times ``sampler`` calls the network in ``num_steps`` steps.

    Heun: ``2 N - 1`` (two per step except the last, Karras et al. 2022, Algorithm 1); Euler,
    DPM-Solver++, DDIM and DDPM: N (DDPM always takes all T steps). With classifier-free
    guidance each call evaluates the network twice (conditional and unconditional).

    Args:
        sampler: one of :data:`SAMPLERS`.
        num_steps: N >= 1.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an int >= 1; got {num_steps!r}")
    return 2 * num_steps - 1 if sampler == "heun" else num_steps
