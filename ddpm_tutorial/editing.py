"""Editing with a trained diffusion model: SDEdit, inpainting and DDIM inversion.

A model trained only to draw samples can also change a given image, with no further training:

* :func:`img2img` (SDEdit, Meng et al. 2022): noise the image part of the way, to the time
  ``strength``, and run the deterministic sampler back from there. Small strengths keep the
  image; strength 1 forgets it and is plain sampling.
* :func:`inpaint` (RePaint, Lugmayr et al. 2022, Algorithm 1): sample as usual, but after every
  step put back the known pixels, noised to the step's level; resampling (their ``U``) jumps
  back one step and repeats it, so that the generated part has time to agree with the kept one.
* :func:`invert` (Song et al. 2021, sec. 4.3): run the deterministic sampler's ODE backwards,
  from the image to the noise it would be drawn from; :func:`reconstruct` samples from those
  latents on the same grid, and :func:`inversion_error` measures how far the round trip lands.

Every function takes a denoiser and its path, as the samplers do: a noise predictor with its
:class:`~ddpm_tutorial.schedules.NoiseSchedule` steps with DDIM (``eta = 0``,
:func:`~ddpm_tutorial.reverse_process.ddim_step`), a velocity network with its
:class:`~ddpm_tutorial.flow_matching.FlowMatching` path with Euler's method
(:func:`~ddpm_tutorial.flow_matching.flow_euler_step`). The conventions:

==============  ==================================================  ===============================
                noise predictor (``NoiseSchedule``, T steps)        velocity (``FlowMatching``)
==============  ==================================================  ===============================
grid            :func:`~ddpm_tutorial.reverse_process.              :func:`~ddpm_tutorial.
                ddim_timesteps`: N steps from T - 1 down to 0,      flow_matching.flow_times`:
                then the clean image (step -1)                      N + 1 times from 1 down to 0
strength s      start at step ``round(s (T - 1))``:                 start at ``t = s``:
                ``x = sqrt(ab) x0 + sqrt(1 - ab) noise``;           ``x = (1 - s) x0 + s noise``
                ``s = 1`` starts from the noise alone
mask            1 = keep the input's pixel, 0 = generate it         the same
latents         the state at step T - 1 (``x_T``)                   the state at ``t = 1``
==============  ==================================================  ===============================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from ._validation import check_images, check_same_shape
from .flow_matching import (
    FlowMatching,
    clip_velocity,
    flow_euler_step,
    flow_times,
    guided_velocity,
    interpolate,
    sample_flow,
)
from .forward_process import add_noise
from .parameterizations import x0_from_noise
from .reverse_process import ddim_step, ddim_timesteps, guided_noise, sample_ddim
from .schedules import NoiseSchedule, gather_at

__all__ = [
    "HALVES",
    "check_mask",
    "ddim_inversion_step",
    "half_mask",
    "img2img",
    "inpaint",
    "inversion_error",
    "invert",
    "reconstruct",
    "sdedit_grid",
]

Denoiser = Callable[..., Tensor]
#: a noise predictor's schedule or a velocity network's path
DiffusionPath = NoiseSchedule | FlowMatching
Half = Literal["top", "bottom", "left", "right"]
#: the halves :func:`half_mask` keeps
HALVES: tuple[str, ...] = ("top", "bottom", "left", "right")
_EPS = 1e-9  # times closer than this to the start time count as the start itself


# ---------------------------------------------------------------------------- checks
def _check_path(path: Any) -> None:
    if not isinstance(path, (NoiseSchedule, FlowMatching)):
        raise TypeError(
            f"path_or_schedule must be a NoiseSchedule (a noise predictor) or a FlowMatching "
            f"path (a velocity network); got {type(path).__name__}"
        )


def _check_strength(strength: float) -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise TypeError(f"strength must be a number in [0, 1]; got {strength!r}")
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must lie in [0, 1]; got {strength}")
    return float(strength)


def _check_guidance(guidance_scale: float) -> None:
    if guidance_scale < 0:
        raise ValueError(f"guidance_scale must be >= 0; got {guidance_scale}")


def _check_noise(noise: Tensor | None, images: Tensor, generator: torch.Generator | None) -> Tensor:
    if noise is None:
        return _randn(images, generator)
    check_same_shape(noise, images, "noise", "images")
    return noise.to(device=images.device, dtype=images.dtype)


def _randn(like: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else like.device
    return torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype).to(
        like.device
    )


def check_mask(mask: Tensor, images: Tensor) -> Tensor:
    """Raise unless ``mask`` is a 0/1 mask for ``images``; return it as ``images``' dtype.

    Args:
        mask: shape (B, 1, H, W) or (1, 1, H, W) (one mask for the whole batch); 1 keeps the
            input's pixel, 0 generates it.
        images: the images, shape (B, C, H, W).

    Returns:
        The mask as a float tensor on ``images``' device, shape as given.

    Raises:
        ValueError: for a mask of another shape, or with a value other than 0 and 1.
    """
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor; got {type(mask).__name__}")
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (B, C, H, W) for a mask; got {tuple(images.shape)}"
        )
    B, _, H, W = images.shape
    if mask.ndim != 4 or mask.shape[0] not in (1, B) or tuple(mask.shape[1:]) != (1, H, W):
        batch = "1" if B == 1 else f"{B} or 1"
        raise ValueError(
            f"mask must have shape ({batch}, 1, {H}, {W}) for images of shape "
            f"{tuple(images.shape)}; got {tuple(mask.shape)}"
        )
    values = torch.unique(mask)
    bad = values[(values != 0) & (values != 1)]
    if bad.numel():
        raise ValueError(
            f"mask values must be 0 (generate) or 1 (keep); got {bad[:3].tolist()}"
            f"{' and more' if bad.numel() > 3 else ''}"
        )
    return mask.to(device=images.device, dtype=images.dtype)


def half_mask(keep: Half, height: int = 28, width: int | None = None) -> Tensor:
    """A mask that keeps one half of an image and generates the other, shape (1, 1, H, W).

    Args:
        keep: ``"top"``, ``"bottom"``, ``"left"`` or ``"right"``: the half that is kept (1).
        height: H.
        width: W (default: H).

    Returns:
        float32 of 0s and 1s; for an odd size the kept half is the smaller one.
    """
    if keep not in HALVES:
        raise ValueError(f"unknown half {keep!r}; choose one of {', '.join(HALVES)}")
    H, W = int(height), int(width if width is not None else height)
    mask = torch.zeros(1, 1, H, W)
    if keep == "top":
        mask[..., : H // 2, :] = 1
    elif keep == "bottom":
        mask[..., H - H // 2 :, :] = 1
    elif keep == "left":
        mask[..., :, : W // 2] = 1
    else:
        mask[..., :, W - W // 2 :] = 1
    return mask


# ---------------------------------------------------------------------------- SDEdit
def sdedit_grid(path: DiffusionPath, strength: float, num_steps: int) -> list[int] | list[float]:
    """Where :func:`img2img` calls the network, from the start at ``strength`` down.

    For a noise schedule of T steps: the start step ``round(strength (T - 1))``, then every
    step of ``ddim_timesteps(T, num_steps)`` below it; the sampler ends at the clean image
    (step -1), one network call per listed step. For a flow path: the start time
    ``strength``, then every time of ``flow_times(num_steps)`` below it, ending at 0; one
    call per time except the last. So at ``strength = 1`` both grids are the samplers' own
    (N calls) and a smaller strength takes about ``strength N`` calls (at least one).

    Args:
        path: the noise schedule or the flow path.
        strength: in (0, 1].
        num_steps: N, the steps of the full grid.

    Returns:
        The steps (ints, decreasing) or the times (floats, decreasing, ending at 0.0).
    """
    _check_path(path)
    strength = _check_strength(strength)
    if strength == 0.0:
        raise ValueError("strength 0 visits no step: img2img returns the input unchanged")
    if isinstance(path, NoiseSchedule):
        start = int(round(strength * (path.num_steps - 1)))
        below = [s for s in ddim_timesteps(path.num_steps, num_steps) if s < start]
        return [start, *below]
    below_t = [t for t in flow_times(num_steps) if t < strength - _EPS]
    return [strength, *below_t]


@torch.no_grad()
def img2img(
    model: Denoiser,
    path_or_schedule: DiffusionPath,
    images: Tensor,
    strength: float,
    *,
    num_steps: int = 50,
    cond: Any = None,
    guidance_scale: float = 1.0,
    clip_x0: bool = False,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SDEdit (Meng et al. 2022), with the deterministic sampler: edit by noising, then denoising.

    The image is noised to the time ``strength`` in one shot, as training noises it (Ho et al.
    2020, eq. 4, ``x = sqrt(ab) x0 + sqrt(1 - ab) noise`` at step ``round(strength (T - 1))``;
    for flow matching ``x = (1 - strength) x0 + strength noise``), and the deterministic sampler
    (DDIM with ``eta = 0``, or Euler) runs from there to the end over the grid of
    :func:`sdedit_grid`: the start, then the steps of the usual ``num_steps`` grid below it.
    Noise hides the fine detail first, so a small strength changes strokes and a large one the
    digit. ``strength = 0`` returns the input (no network call); ``strength = 1`` is plain
    sampling from ``noise`` (for a noise schedule the start is the noise alone, as in
    :func:`~ddpm_tutorial.reverse_process.sample_ddim`, not the input's remaining share
    ``sqrt(alpha_bars[T - 1])``).

    Args:
        model: the denoiser ``model(x_t, t[, cond])``: the noise for a ``NoiseSchedule``, the
            velocity for a ``FlowMatching`` path.
        path_or_schedule: what the model was trained with.
        images: the images to edit, shape (B, C, H, W) (or (B, D) points), in [-1, 1].
        strength: how far to noise them, in [0, 1].
        num_steps: N, the steps of the full grid (``strength = 1`` takes all N).
        cond, guidance_scale: the condition and classifier-free guidance's ``w`` (a prompt makes
            a text-guided edit).
        clip_x0: clip the predicted clean image to [-1, 1] at every step.
        noise: the noise to add, shape of ``images``; drawn from ``generator`` if None.
        generator: for the noise.

    Returns:
        The edited images, shape of ``images``.
    """
    _check_path(path_or_schedule)
    check_images(images, "images")
    strength = _check_strength(strength)
    _check_guidance(guidance_scale)
    noise = _check_noise(noise, images, generator)
    if strength == 0.0:
        return images.clone()
    grid = sdedit_grid(path_or_schedule, strength, num_steps)
    if isinstance(path_or_schedule, FlowMatching):
        t = torch.full((images.shape[0],), strength, device=images.device)
        x = interpolate(images, noise, t)
        return sample_flow(
            model,
            path_or_schedule,
            tuple(images.shape),
            times=grid,
            x_T=x,
            cond=cond,
            guidance_scale=guidance_scale,
            clip_x0=clip_x0,
        )
    schedule = path_or_schedule
    steps = [int(s) for s in grid]
    if strength == 1.0:
        x = noise
    else:
        x = add_noise(images, _full(images, steps[0]), noise, schedule)
    for step, prev_step in zip(steps, [*steps[1:], -1]):
        eps_pred = guided_noise(model, x, _full(x, step), cond, guidance_scale)
        x, _ = ddim_step(x, step, prev_step, eps_pred, schedule, clip_x0=clip_x0)
    return x


def _full(x: Tensor, step: int) -> Tensor:
    return torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)


# ---------------------------------------------------------------------------- inpainting
def _jump_back(
    x: Tensor, path: DiffusionPath, frm: float, to: float, generator: torch.Generator | None
) -> Tensor:
    """Noise ``x`` from the level of ``frm`` up to the level of ``to`` (> ``frm``), exactly.

    Noise schedule: ``q(x_to | x_frm) = N(sqrt(ab_to / ab_frm) x, (1 - ab_to / ab_frm) I)``
    (RePaint's line 10 over one step of the grid). Flow: ``x_to = r x + sqrt(to^2 - r^2 frm^2)
    z`` with ``r = (1 - to) / (1 - frm)``, which puts ``(1 - frm) x0 + frm noise`` at
    ``(1 - to) x0 + to noise'``.
    """
    z = _randn(x, generator)
    if isinstance(path, NoiseSchedule):
        ab_to = gather_at(path.alpha_bars, _full(x, int(to)), like=x)
        ab_frm = gather_at(path.alpha_bars, _full(x, int(frm)), like=x)
        ratio = ab_to / ab_frm
        return ratio.sqrt() * x + (1 - ratio).sqrt() * z
    r = (1.0 - to) / (1.0 - frm)
    return r * x + max(to**2 - (r * frm) ** 2, 0.0) ** 0.5 * z


@torch.no_grad()
def inpaint(
    model: Denoiser,
    path_or_schedule: DiffusionPath,
    images: Tensor,
    mask: Tensor,
    *,
    num_steps: int = 50,
    resample: int = 1,
    cond: Any = None,
    guidance_scale: float = 1.0,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill in the pixels where ``mask`` is 0, keeping the rest (RePaint, Lugmayr et al. 2022).

    Lugmayr et al.'s Algorithm 1 on the sampler's grid: from pure noise, each step
    (DDIM with ``eta = 0``, or Euler) moves the whole image one grid step down, and then the
    known pixels are replaced by the input noised to the new level with fresh noise
    (``add_noise`` at the next step, or ``interpolate`` at the next time). With
    ``resample = U > 1`` each step is taken U times: after each of the first U - 1 the image
    is noised back up one grid step (the forward process from the lower noise level to the
    higher, exactly) and the step repeated, so that the generated region can adjust to the kept one (their jump
    length 1). The last step, to the clean image, puts back the input itself, so the kept
    pixels come out exactly as given; it is not repeated (there is no noise left to redo it
    with). Network calls: ``U (N - 1) + 1`` (times 2 with guidance).

    Args:
        model, path_or_schedule: the denoiser and its path (see :func:`img2img`).
        images: the images, shape (B, C, H, W), in [-1, 1].
        mask: shape (B, 1, H, W) or (1, 1, H, W) of 0s and 1s: 1 keeps the input's pixel,
            0 generates it (see :func:`half_mask`).
        num_steps: N, the sampler's steps.
        resample: U >= 1, RePaint's resampling count; 1 is plain masked replacement.
        cond, guidance_scale: the condition and classifier-free guidance's ``w``.
        clip_x0: clip the predicted clean image to [-1, 1] at every step.
        generator: for the starting noise, the known region's noise and the jumps back.

    Returns:
        The completed images, shape of ``images``; equal to ``images`` where ``mask`` is 1.
    """
    _check_path(path_or_schedule)
    check_images(images, "images")
    mask = check_mask(mask, images)
    _check_guidance(guidance_scale)
    if isinstance(resample, bool) or not isinstance(resample, int) or resample < 1:
        raise ValueError(f"resample must be an int >= 1; got {resample!r}")
    path = path_or_schedule
    B = images.shape[0]
    if isinstance(path, NoiseSchedule):
        steps = ddim_timesteps(path.num_steps, num_steps)
        grid: list[Any] = [*steps, -1]
    else:
        grid = flow_times(num_steps)
    x = _randn(images, generator)
    for now, nxt in zip(grid, grid[1:]):
        last = nxt == -1 if isinstance(path, NoiseSchedule) else nxt <= 0
        for u in range(1 if last else resample):
            if isinstance(path, NoiseSchedule):
                eps_pred = guided_noise(model, x, _full(x, now), cond, guidance_scale)
                unknown, _ = ddim_step(x, now, nxt, eps_pred, path, clip_x0=clip_x0)
                known = (
                    images if last else add_noise(images, _full(x, nxt), _randn(x, generator), path)
                )
            else:
                v = guided_velocity(
                    model, x, torch.full((B,), now, device=x.device), path, cond, guidance_scale
                )
                unknown = flow_euler_step(x, now, nxt, clip_velocity(v, x, now, clip_x0))
                t_next = torch.full((B,), nxt, device=x.device)
                known = images if last else interpolate(images, _randn(x, generator), t_next)
            x_next = mask * known + (1 - mask) * unknown
            if u < resample - 1 and not last:
                x = _jump_back(x_next, path, nxt, now, generator)
        x = x_next
    return x


# ---------------------------------------------------------------------------- inversion
def ddim_inversion_step(
    x: Tensor, step: int, next_step: int, eps_pred: Tensor, schedule: NoiseSchedule
) -> Tensor:
    """One step of DDIM run backwards, from ``step`` up to ``next_step`` > ``step``.

    DDIM's deterministic update (Song et al. 2021, eq. 12 with ``sigma = 0``; the Euler step of
    their ODE, eq. 14, taken toward more noise as sec. 4.3 describes):
    ``x_next = sqrt(ab_next) x0_pred + sqrt(1 - ab_next) eps_pred``, with
    ``x0_pred = (x - sqrt(1 - ab) eps_pred) / sqrt(ab)`` at ``step`` and ``ab = 1`` for
    ``step = -1`` (the clean image: then ``x0_pred = x``). It is
    :func:`~ddpm_tutorial.reverse_process.ddim_step` (``eta = 0``) with the target above the
    current step, written with :func:`~ddpm_tutorial.parameterizations.x0_from_noise` and
    :func:`~ddpm_tutorial.forward_process.add_noise`.

    Args:
        x: images at ``step``, shape (B, C, H, W) (or (B, D)).
        step: the current step, in [-1, T - 1).
        next_step: the step to move to, in (step, T).
        eps_pred: the noise predicted at ``x``, shape of ``x``.
        schedule: the noise schedule.

    Returns:
        The images at ``next_step``, shape of ``x``.
    """
    check_same_shape(eps_pred, x, "eps_pred", "x")
    if not -1 <= step < next_step < schedule.num_steps:
        raise ValueError(
            f"need -1 <= step < next_step < T = {schedule.num_steps}; got step={step}, "
            f"next_step={next_step}"
        )
    x0_pred = x if step == -1 else x0_from_noise(x, _full(x, step), eps_pred, schedule)
    return add_noise(x0_pred, _full(x, next_step), eps_pred, schedule)


@torch.no_grad()
def invert(
    model: Denoiser,
    path_or_schedule: DiffusionPath,
    images: Tensor,
    *,
    num_steps: int = 50,
    cond: Any = None,
) -> Tensor:
    """DDIM inversion (Song et al. 2021, sec. 4.3): the latents a deterministic sampler maps to ``images``.

    The sampler's grid is walked backwards with Euler's method, each step's slope taken at its
    start. Noise schedule: from the clean image (step -1) up through ``ddim_timesteps(T, N)``
    reversed, ``[0, ..., T - 1]``, with :func:`ddim_inversion_step`; the network is asked at
    the current step, and at step 0 for the clean image, which has no step of its own. Flow:
    :func:`~ddpm_tutorial.flow_matching.flow_euler_step` from ``t = 0`` up through
    ``flow_times(N)`` reversed to ``t = 1``. N network calls either way. The sampler's own
    steps take the slope at the other end, so the round trip is exact only as N grows (an
    error of order 1/N per unit time); :func:`inversion_error` measures it.

    Args:
        model, path_or_schedule: the denoiser and its path (see :func:`img2img`).
        images: shape (B, C, H, W) (or (B, D)), in [-1, 1].
        num_steps: N, the steps of the grid (use the same N in :func:`reconstruct`).
        cond: the condition of a conditional model (no guidance: ``w = 1``).

    Returns:
        The latents, shape of ``images``: the state at step T - 1, or at ``t = 1``.
    """
    _check_path(path_or_schedule)
    check_images(images, "images")
    x = images
    if isinstance(path_or_schedule, NoiseSchedule):
        up = ddim_timesteps(path_or_schedule.num_steps, num_steps)[::-1]
        for step, next_step in zip([-1, *up[:-1]], up):
            eps_pred = guided_noise(model, x, _full(x, max(step, 0)), cond)
            x = ddim_inversion_step(x, step, next_step, eps_pred, path_or_schedule)
        return x
    times = flow_times(num_steps)[::-1]
    for t, t_next in zip(times, times[1:]):
        v = guided_velocity(
            model, x, torch.full((x.shape[0],), t, device=x.device), path_or_schedule, cond
        )
        x = flow_euler_step(x, t, t_next, v)
    return x


@torch.no_grad()
def reconstruct(
    model: Denoiser,
    path_or_schedule: DiffusionPath,
    latents: Tensor,
    *,
    num_steps: int = 50,
    cond: Any = None,
    guidance_scale: float = 1.0,
) -> Tensor:
    """Sample from ``latents`` with the deterministic sampler on :func:`invert`'s grid.

    :func:`~ddpm_tutorial.reverse_process.sample_ddim` (``eta = 0``) with ``x_T = latents``,
    or :func:`~ddpm_tutorial.flow_matching.sample_flow` (Euler) from ``t = 1``; N calls.

    Args:
        model, path_or_schedule: the denoiser and its path.
        latents: shape (B, C, H, W) (or (B, D)), from :func:`invert` or edited.
        num_steps: N (the same as :func:`invert`'s for a round trip).
        cond, guidance_scale: the condition and classifier-free guidance's ``w``.

    Returns:
        Images, shape of ``latents``.
    """
    _check_path(path_or_schedule)
    check_images(latents, "latents")
    shape = tuple(latents.shape)
    if isinstance(path_or_schedule, NoiseSchedule):
        x = sample_ddim(
            model,
            path_or_schedule,
            shape,
            num_steps=num_steps,
            cond=cond,
            guidance_scale=guidance_scale,
            x_T=latents,
        )
    else:
        x = sample_flow(
            model,
            path_or_schedule,
            shape,
            num_steps=num_steps,
            cond=cond,
            guidance_scale=guidance_scale,
            x_T=latents,
        )
    assert isinstance(x, Tensor)
    return x


def inversion_error(
    model: Denoiser,
    path_or_schedule: DiffusionPath,
    images: Tensor,
    *,
    num_steps: int = 50,
    cond: Any = None,
) -> Tensor:
    """Per-image RMSE of ``reconstruct(invert(images))`` against ``images``, shape (B,).

    ``sqrt(mean over C, H, W of (x_rec - x)^2)``: 0 for a perfect round trip. Costs 2 N calls.

    Args:
        model, path_or_schedule: the denoiser and its path.
        images: shape (B, C, H, W) (or (B, D)).
        num_steps: N, the grid of both directions.
        cond: the condition of a conditional model.
    """
    latents = invert(model, path_or_schedule, images, num_steps=num_steps, cond=cond)
    x_rec = reconstruct(model, path_or_schedule, latents, num_steps=num_steps, cond=cond)
    return (x_rec - images).pow(2).flatten(1).mean(1).sqrt()
