"""The reverse process: from pure noise to an image, one denoising step at a time.

Each sampler is a short loop over steps that calls one pure step function:

* :func:`ddpm_step` / :func:`sample_ddpm`: Algorithm 2 of Ho et al. (2020), all T steps.
* :func:`ddim_step` / :func:`sample_ddim`: Song et al. (2021, eq. 12), any subsequence of
  steps, ``eta = 0`` deterministic and ``eta = 1`` as noisy as DDPM.

Both accept a conditional denoiser with classifier-free guidance (Ho & Salimans 2022):
``eps = eps_uncond + w (eps_cond - eps_uncond)``, where ``w = 1`` means no guidance (the
conditional prediction alone) and ``w = 0`` the unconditional one. A network that predicts
the clean image or v instead of the noise samples through the same loops with
``prediction="x0"`` or ``"v"`` (see :mod:`~ddpm_tutorial.parameterizations`). Nothing is clipped unless
asked: ``clip_x0=True`` clips the predicted clean image to [-1, 1] (Ho et al.'s code does this
by default), and ``dynamic_threshold=p`` applies Imagen's dynamic thresholding (Saharia et al.
2022, section 2.3) at percentile ``p``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from ._validation import check_images, check_same_shape
from .forward_process import posterior_mean_variance
from .parameterizations import PREDICTIONS, Prediction, noise_from_x0, x0_and_noise, x0_from_noise
from .precision import autocast, resolve_precision
from .schedules import NoiseSchedule, gather_at

__all__ = [
    "Trajectory",
    "at_precision",
    "ddpm_step",
    "ddim_step",
    "ddim_timesteps",
    "dynamic_threshold_x0",
    "guided_noise",
    "sample_ddpm",
    "sample_ddim",
]

Denoiser = Callable[..., Tensor]
VarianceKind = Literal["beta", "posterior"]


@dataclass(frozen=True)
class Trajectory:
    """The states a sampler went through, for figures.

    Attributes:
        steps: the step index of each saved state, in sampling order (from T-1 down to 0),
            followed by -1 for the final image.
        x_t: the noisy image before each saved step and the final image, shape (S, B, C, H, W).
        x0_pred: the clean image predicted at each saved step (for the final entry, the final
            image itself), shape (S, B, C, H, W).
    """

    steps: list[int]
    x_t: Tensor
    x0_pred: Tensor


# ---------------------------------------------------------------------------- helpers
def dynamic_threshold_x0(x0_pred: Tensor, percentile: float = 0.995) -> Tensor:
    """Imagen's dynamic thresholding (Saharia et al. 2022, section 2.3).

    Per example, ``s`` is the ``percentile`` quantile of ``|x0_pred|``, at least 1;
    ``x0_pred`` is clipped to [-s, s] and divided by s, so that it lies in [-1, 1] without
    the saturated blocks that static clipping gives at high guidance scales.

    Args:
        x0_pred: predicted clean images, shape (B, ...).
        percentile: the quantile, in (0, 1].

    Returns:
        Thresholded images, shape of ``x0_pred``.
    """
    if not 0.0 < percentile <= 1.0:
        raise ValueError(f"dynamic threshold percentile must lie in (0, 1]; got {percentile}")
    B = x0_pred.shape[0]
    s = torch.quantile(x0_pred.reshape(B, -1).abs().float(), percentile, dim=1).clamp(min=1.0)
    s = s.to(x0_pred.dtype).reshape(-1, *([1] * (x0_pred.ndim - 1)))
    return x0_pred.clamp(-s, s) / s


def _limit_x0(x0_pred: Tensor, clip_x0: bool, dynamic_threshold: float | None) -> Tensor:
    if dynamic_threshold is not None:
        return dynamic_threshold_x0(x0_pred, dynamic_threshold)
    if clip_x0:
        return x0_pred.clamp(-1.0, 1.0)
    return x0_pred


def guided_noise(
    model: Denoiser, x_t: Tensor, t: Tensor, cond: Any = None, guidance_scale: float = 1.0
) -> Tensor:
    """Predict the noise, with classifier-free guidance when a condition is given.

    ``eps = eps_uncond + w (eps_cond - eps_uncond)`` (Ho & Salimans 2022, eq. 6, written with
    ``w = 1 + their w``): ``w = 1`` returns ``model(x_t, t, cond)`` alone, ``w = 0`` the
    unconditional ``model(x_t, t, None)``, ``w > 1`` pushes further toward the condition. For a
    network that predicts x0 or v the same combination is taken of its outputs.

    Args:
        model: the denoiser.
        x_t: noisy images, shape (B, C, H, W).
        t: steps, int64, shape (B,).
        cond: the condition, or None for an unconditional model.
        guidance_scale: w.

    Returns:
        eps_pred, shape of ``x_t``.
    """
    if cond is None:
        if guidance_scale != 1.0:
            raise ValueError(
                f"guidance_scale = {guidance_scale} needs a condition to guide toward; got cond=None"
            )
        eps = model(x_t, t)
    elif guidance_scale == 1.0:
        eps = model(x_t, t, cond)
    elif guidance_scale == 0.0:
        eps = model(x_t, t, None)
    else:
        eps_cond = model(x_t, t, cond)
        eps_uncond = model(x_t, t, None)
        eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
    if not isinstance(eps, Tensor) or eps.shape != x_t.shape:
        shape = tuple(eps.shape) if isinstance(eps, Tensor) else type(eps).__name__
        raise ValueError(
            f"the model returned {shape}; a noise predictor must return the shape of x_t, "
            f"{tuple(x_t.shape)}"
        )
    return eps


def _randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def _check_sampling_args(
    schedule: NoiseSchedule, shape: Sequence[int], guidance_scale: float, prediction: str
) -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(
            f"unknown prediction {prediction!r}; choose one of {', '.join(PREDICTIONS)}"
        )
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule; got {type(schedule).__name__}")
    if len(shape) < 2 or any(int(d) < 1 for d in shape):
        raise ValueError(
            f"shape must be (B, C, H, W) or (B, D) with positive sizes; got {tuple(shape)}"
        )
    if guidance_scale < 0:
        raise ValueError(f"guidance_scale must be >= 0; got {guidance_scale}")


def at_precision(model: Denoiser, precision: str, device: torch.device | str) -> Denoiser:
    """``model`` as a sampler calls it under ``precision`` (see :mod:`ddpm_tutorial.precision`).

    ``"fp32"`` returns ``model`` itself. Where ``precision`` resolves to bf16 or fp16, the
    returned callable runs ``model(x_t, t, ...)`` under that autocast and hands back float32,
    so the sampler's own update (eq. 11 of Ho et al. 2020, eq. 12 of Song et al. 2021) stays in
    float32: only the network's forward pass is rounded. (fp16 needs no gradient scaler here:
    sampling has no backward pass.)

    Raises:
        ValueError: for a name not in :data:`ddpm_tutorial.precision.PRECISIONS`.
    """
    if resolve_precision(precision, device) == "fp32":
        return model

    def model_at_precision(*args: Any, **kwargs: Any) -> Tensor:
        with autocast(precision, device):
            out = model(*args, **kwargs)
        return out.float() if isinstance(out, Tensor) else out

    return model_at_precision


def _initial_noise(
    shape: Sequence[int],
    x_T: Tensor | None,
    device: torch.device | str | None,
    generator: torch.Generator | None,
) -> Tensor:
    if x_T is not None:
        check_images(x_T, "x_T")
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T shape {tuple(x_T.shape)} != requested shape {tuple(shape)}")
        return x_T.to(device) if device is not None else x_T
    gen_device = generator.device if generator is not None else (device or "cpu")
    return torch.randn(tuple(shape), generator=generator, device=gen_device).to(
        device or gen_device
    )


# ---------------------------------------------------------------------------- DDPM
def ddpm_step(
    x_t: Tensor,
    step: int,
    eps_pred: Tensor,
    schedule: NoiseSchedule,
    *,
    variance: VarianceKind = "beta",
    clip_x0: bool = False,
    dynamic_threshold: float | None = None,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    x0_pred: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One step of Algorithm 2 (Ho et al. 2020): sample ``x_{t-1} ~ p(x_{t-1} | x_t)``.

    Without clipping the mean is eq. 11,
    ``mu = (x_t - betas[t] / sqrt(1 - alpha_bars[t]) eps_pred) / sqrt(alphas[t])``,
    which equals the posterior mean of :func:`~ddpm_tutorial.forward_process.
    posterior_mean_variance` at the predicted clean image. With ``clip_x0`` or
    ``dynamic_threshold`` the predicted clean image is limited first and the posterior mean
    is taken at the limited one. Then ``x_{t-1} = mu + sigma_t z``, with
    ``sigma_t^2 = betas[t]`` (``variance="beta"``) or the posterior variance
    (``variance="posterior"``), both of which the paper found to work (section 3.2), and no
    noise at the last step, ``step = 0``.

    Args:
        x_t: noisy images at ``step``, shape (B, C, H, W).
        step: the current step, an int in [0, T).
        eps_pred: predicted noise, shape of ``x_t``.
        schedule: the noise schedule.
        variance: which sigma_t^2 to use.
        clip_x0: clip the predicted clean image to [-1, 1].
        dynamic_threshold: if set, the percentile of Imagen's dynamic thresholding.
        noise: the fresh noise z (shape of ``x_t``); drawn from ``generator`` if None.
        generator: generator for z.
        x0_pred: the predicted clean image, when the network predicts it (``eps_pred`` is then
            the noise it implies); None: computed from ``eps_pred``.

    Returns:
        ``(x_prev, x0_pred)``: the images at step - 1 and the predicted clean images.
    """
    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' or 'posterior'; got {variance!r}")
    _check_step(step, schedule)
    if noise is not None:
        check_same_shape(noise, x_t, "noise", "x_t")
    t = torch.full((x_t.shape[0],), step, dtype=torch.long, device=x_t.device)
    if x0_pred is None:
        x0_pred = x0_from_noise(x_t, t, eps_pred, schedule)
    if clip_x0 or dynamic_threshold is not None:
        x0_pred = _limit_x0(x0_pred, clip_x0, dynamic_threshold)
        mean, _ = posterior_mean_variance(x0_pred, x_t, t, schedule)
    else:
        beta_t = gather_at(schedule.betas, t, like=x_t)
        alpha_t = gather_at(schedule.alphas, t, like=x_t)
        alpha_bar_t = gather_at(schedule.alpha_bars, t, like=x_t)
        mean = (x_t - beta_t / (1 - alpha_bar_t).sqrt() * eps_pred) / alpha_t.sqrt()
    if step == 0:
        return mean, x0_pred
    table = schedule.betas if variance == "beta" else schedule.posterior_variance
    sigma_t = gather_at(table, t, like=x_t).sqrt()
    z = _randn_like(x_t, generator) if noise is None else noise
    return mean + sigma_t * z, x0_pred


@torch.no_grad()
def sample_ddpm(
    model: Denoiser,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    *,
    cond: Any = None,
    guidance_scale: float = 1.0,
    variance: VarianceKind = "beta",
    clip_x0: bool = False,
    dynamic_threshold: float | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    x_T: Tensor | None = None,
    return_trajectory: bool = False,
    trajectory_every: int = 1,
    progress: bool = False,
    precision: str = "fp32",
    prediction: Prediction = "eps",
) -> Tensor | tuple[Tensor, Trajectory]:
    """Algorithm 2 of Ho et al. (2020): start from ``x_T ~ N(0, I)``, take all T steps.

    Args:
        model: denoiser ``model(x_t, t[, cond])`` returning predicted noise (put it in eval
            mode first; the sampler does not change the model's state).
        schedule: the noise schedule the model was trained with.
        shape: shape of the batch to draw, (B, C, H, W).
        cond: optional condition for a conditional model (labels, tokens, ...).
        guidance_scale: classifier-free guidance scale w (see :func:`guided_noise`).
        variance: ``"beta"`` or ``"posterior"`` for sigma_t^2.
        clip_x0: clip the predicted clean image to [-1, 1] at every step.
        dynamic_threshold: percentile for Imagen's dynamic thresholding, or None.
        generator: a ``torch.Generator`` for reproducible samples.
        device: where to sample; defaults to the generator's device, or cpu.
        x_T: optional starting noise of shape ``shape`` (then nothing is drawn for it).
        return_trajectory: also return a :class:`Trajectory`.
        trajectory_every: keep every k-th step in the trajectory (the first and last always).
        progress: show a tqdm progress bar.
        precision: ``"fp32"`` (the default: the same images on every machine), ``"bf16"``,
            ``"fp16"`` or ``"auto"``: the precision of the network's forward passes (see
            :func:`at_precision`). bf16 draws different images from the same noise, of the
            same quality: DDIM with 50 steps on the 2-core CPU of ``benchmarks/README.md``
            ran 3.0x faster at FID 2.70 against fp32's 2.74 (200 samples).
        prediction: what the network returns: ``"eps"`` (the noise; the default), ``"x0"``
            or ``"v"`` (see :func:`~ddpm_tutorial.parameterizations.x0_and_noise`).

    Returns:
        x0 of shape ``shape`` (not clipped unless asked), or ``(x0, trajectory)``.
    """
    _check_sampling_args(schedule, shape, guidance_scale, prediction)
    x_t = _initial_noise(shape, x_T, device, generator)
    model = at_precision(model, precision, x_t.device)
    recorder = _Recorder(return_trajectory, trajectory_every, schedule.num_steps)
    for step in _progress(reversed(range(schedule.num_steps)), progress, schedule.num_steps):
        t = torch.full((x_t.shape[0],), step, dtype=torch.long, device=x_t.device)
        x0_given, eps_pred = _predict(model, x_t, t, cond, guidance_scale, schedule, prediction)
        x_prev, x0_pred = ddpm_step(
            x_t,
            step,
            eps_pred,
            schedule,
            variance=variance,
            clip_x0=clip_x0,
            dynamic_threshold=dynamic_threshold,
            generator=generator,
            x0_pred=x0_given,
        )
        recorder.record(step, x_t, x0_pred)
        x_t = x_prev
    return recorder.finish(x_t)


# ---------------------------------------------------------------------------- DDIM
def ddim_timesteps(num_train_steps: int, num_steps: int) -> list[int]:
    """The steps a DDIM sampler visits, from high noise to low: ``num_steps`` values.

    Evenly spaced over [0, T - 1] including both ends (``linspace`` then rounded), so that
    sampling starts at the step that training saw as pure noise and ends at step 0.

    Args:
        num_train_steps: T of the schedule.
        num_steps: how many denoising steps to take, in [1, T].

    Returns:
        A strictly decreasing list of ints, e.g. ``[999, 888, ..., 111, 0]``.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"num_steps must be an int; got {num_steps!r}")
    if not 1 <= num_steps <= num_train_steps:
        raise ValueError(
            f"num_steps must lie in [1, {num_train_steps}] (the schedule's T); got {num_steps}"
        )
    if num_steps == 1:
        return [num_train_steps - 1]
    steps = torch.linspace(0, num_train_steps - 1, num_steps, dtype=torch.float64).round().long()
    return sorted({int(s) for s in steps}, reverse=True)


def ddim_step(
    x_t: Tensor,
    step: int,
    prev_step: int,
    eps_pred: Tensor,
    schedule: NoiseSchedule,
    *,
    eta: float = 0.0,
    clip_x0: bool = False,
    dynamic_threshold: float | None = None,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    x0_pred: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One DDIM update from ``step`` to ``prev_step`` (Song et al. 2021, eqs. 12 and 16).

    ``x_prev = sqrt(ab_prev) x0_pred + sqrt(1 - ab_prev - sigma^2) eps_pred + sigma z`` with
    ``sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)``, where
    ``ab_prev = alpha_bars[prev_step]`` and ``ab_prev = 1`` for ``prev_step = -1`` (the
    final, clean image). If the predicted clean image is clipped or thresholded, the noise is
    recomputed from it so that the update stays consistent (as in Nichol & Dhariwal's code).

    Args:
        x_t: noisy images at ``step``, shape (B, C, H, W).
        step: the current step in [0, T).
        prev_step: the next step to visit, in [-1, step).
        eps_pred: predicted noise, shape of ``x_t``.
        schedule: the noise schedule.
        eta: 0 for deterministic DDIM, 1 for DDPM-like noise; in [0, 1].
        clip_x0: clip the predicted clean image to [-1, 1].
        dynamic_threshold: percentile for dynamic thresholding, or None.
        noise: the fresh noise z; drawn from ``generator`` if None and eta > 0.
        generator: generator for z.
        x0_pred: the predicted clean image, when the network predicts it (``eps_pred`` is then
            the noise it implies); None: computed from ``eps_pred``.

    Returns:
        ``(x_prev, x0_pred)``.
    """
    _check_step(step, schedule)
    if noise is not None:
        check_same_shape(noise, x_t, "noise", "x_t")
    if not -1 <= prev_step < step:
        raise ValueError(f"prev_step must lie in [-1, step={step}); got {prev_step}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1]; got {eta}")
    t = torch.full((x_t.shape[0],), step, dtype=torch.long, device=x_t.device)
    if x0_pred is None:
        x0_pred = x0_from_noise(x_t, t, eps_pred, schedule)
    if clip_x0 or dynamic_threshold is not None:
        x0_pred = _limit_x0(x0_pred, clip_x0, dynamic_threshold)
        eps_pred = noise_from_x0(x_t, t, x0_pred, schedule)
    ab_t = gather_at(schedule.alpha_bars, t, like=x_t)
    if prev_step >= 0:
        ab_prev = gather_at(schedule.alpha_bars, torch.full_like(t, prev_step), like=x_t)
    else:
        ab_prev = torch.ones_like(ab_t)
    sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).clamp(min=0).sqrt()
    direction = (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps_pred
    x_prev = ab_prev.sqrt() * x0_pred + direction
    if eta > 0 and prev_step >= 0:
        z = _randn_like(x_t, generator) if noise is None else noise
        x_prev = x_prev + sigma * z
    return x_prev, x0_pred


@torch.no_grad()
def sample_ddim(
    model: Denoiser,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    *,
    num_steps: int = 50,
    eta: float = 0.0,
    cond: Any = None,
    guidance_scale: float = 1.0,
    clip_x0: bool = False,
    dynamic_threshold: float | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    x_T: Tensor | None = None,
    return_trajectory: bool = False,
    trajectory_every: int = 1,
    progress: bool = False,
    precision: str = "fp32",
    prediction: Prediction = "eps",
) -> Tensor | tuple[Tensor, Trajectory]:
    """DDIM sampling (Song et al. 2021) over ``num_steps`` of the schedule's T steps.

    The visited steps come from :func:`ddim_timesteps`; each step's predecessor is looked
    up in that list, not computed by subtraction. Arguments as in :func:`sample_ddpm`, plus
    ``num_steps`` (in [1, T]) and ``eta`` (in [0, 1]; 0 makes the map from ``x_T`` to the
    image deterministic), and ``precision`` and ``prediction`` as there.

    Returns:
        x0 of shape ``shape``, or ``(x0, trajectory)``.
    """
    _check_sampling_args(schedule, shape, guidance_scale, prediction)
    steps = ddim_timesteps(schedule.num_steps, num_steps)
    x_t = _initial_noise(shape, x_T, device, generator)
    model = at_precision(model, precision, x_t.device)
    recorder = _Recorder(return_trajectory, trajectory_every, len(steps))
    prev_steps = steps[1:] + [-1]
    for step, prev_step in _progress(zip(steps, prev_steps), progress, len(steps)):
        t = torch.full((x_t.shape[0],), step, dtype=torch.long, device=x_t.device)
        x0_given, eps_pred = _predict(model, x_t, t, cond, guidance_scale, schedule, prediction)
        x_prev, x0_pred = ddim_step(
            x_t,
            step,
            prev_step,
            eps_pred,
            schedule,
            eta=eta,
            clip_x0=clip_x0,
            dynamic_threshold=dynamic_threshold,
            generator=generator,
            x0_pred=x0_given,
        )
        recorder.record(step, x_t, x0_pred)
        x_t = x_prev
    return recorder.finish(x_t)


# ---------------------------------------------------------------------------- internals
def _predict(
    model: Denoiser,
    x_t: Tensor,
    t: Tensor,
    cond: Any,
    guidance_scale: float,
    schedule: NoiseSchedule,
    prediction: Prediction,
) -> tuple[Tensor | None, Tensor]:
    """The guided output as ``(x0_pred or None, eps_pred)``: None for a noise predictor, so
    that its steps compute the clean image exactly as they always have."""
    output = guided_noise(model, x_t, t, cond, guidance_scale)
    if prediction == "eps":
        return None, output
    return x0_and_noise(output, x_t, t, schedule, prediction)


def _check_step(step: int, schedule: NoiseSchedule) -> None:
    if isinstance(step, bool) or not isinstance(step, int):
        raise TypeError(f"step must be a Python int; got {type(step).__name__}")
    if not 0 <= step < schedule.num_steps:
        raise ValueError(
            f"step {step} is out of range: steps are 0-based in [0, {schedule.num_steps})"
        )


def _progress(iterable: Any, enabled: bool, total: int) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc="sampling", leave=False)


class _Recorder:
    """Keeps every k-th state of a sampling loop (always the first and the last)."""

    def __init__(self, enabled: bool, every: int, total: int) -> None:
        if every < 1:
            raise ValueError(f"trajectory_every must be >= 1; got {every}")
        self.enabled, self.every, self.total = enabled, every, total
        self.count = 0
        self.steps: list[int] = []
        self.x_t: list[Tensor] = []
        self.x0_pred: list[Tensor] = []

    def record(self, step: int, x_t: Tensor, x0_pred: Tensor) -> None:
        if self.enabled and (self.count % self.every == 0 or self.count == self.total - 1):
            self.steps.append(step)
            self.x_t.append(x_t.detach().cpu())
            self.x0_pred.append(x0_pred.detach().cpu())
        self.count += 1

    def finish(self, x0: Tensor) -> Tensor | tuple[Tensor, Trajectory]:
        if not self.enabled:
            return x0
        final = x0.detach().cpu()
        traj = Trajectory(
            steps=[*self.steps, -1],
            x_t=torch.stack([*self.x_t, final]),
            x0_pred=torch.stack([*self.x0_pred, final]),
        )
        return x0, traj
