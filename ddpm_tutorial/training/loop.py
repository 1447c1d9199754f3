"""The training loop of every denoiser: Algorithm 1 of Ho et al. (2020), repeated, with care.

:func:`train_denoiser` is the one loop that chapters and the command line share:

    repeat: x0 ~ data; t ~ Uniform{0..T-1}; noise ~ N(0, I)
            take a gradient step on || noise - model(add_noise(x0, t, noise), t) ||^2

plus AdamW with a linear warm-up, gradient clipping, an exponential moving average of the
weights (:class:`~ddpm_tutorial.training.ema.EMA`), a ``tqdm.auto`` progress bar, a clear stop
when the loss is not finite, and periodic checkpoints that
:func:`~ddpm_tutorial.runs.run.run_training` resumes from exactly: every random number
(batches, steps, noise, condition dropout) comes from one ``torch.Generator`` whose state is
saved with the weights and the optimizer (:mod:`~ddpm_tutorial.training.state`).

A :class:`~ddpm_tutorial.flow_matching.FlowMatching` in place of the schedule trains a
velocity network by flow matching instead (Lipman et al. 2023, eq. 23): the same loop and draws,
with ``t`` a time in (0, 1) from the path's time distribution, ``x_t = (1 - t) x0 + t noise``,
and the target ``noise - x0``.

The draws of a step are those of :func:`~ddpm_tutorial.losses.noise_prediction_loss`, in its
order (the batch's indices, then ``t``, the noise and the dropout mask), made for the whole
batch; under ``torchrun`` each process keeps its rows of them
(:mod:`~ddpm_tutorial.training.distributed`), so N processes train exactly what one process
trains on the same global batch. Under ``precision="fp16"`` the loss is scaled
(:func:`~ddpm_tutorial.precision.grad_scaler`); a step whose gradients overflow changes
neither the weights nor their moving average.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..flow_matching import FlowMatching, flow_matching_loss
from ..losses import denoising_loss, noise_prediction_loss, sample_steps
from ..precision import autocast, grad_scaler, resolve_precision, uses_channels_last
from ..runtime import default_device
from ..schedules import NoiseSchedule
from .distributed import World, current_world
from .ema import EMA
from .lr import warmup_lr
from .monitor import LossMonitor

__all__ = [
    "DenoiserTraining",
    "TrainState",
    "evaluate_loss",
    "index_condition",
    "train_denoiser",
]


class DenoiserTraining(Protocol):
    """The fields of a training config that :func:`train_denoiser` reads.

    :class:`~ddpm_tutorial.runs.config.TrainConfig` has them all; a chapter may pass any object
    that does.
    """

    name: str
    batch_size: int
    num_train_steps: int
    learning_rate: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    precision: str
    ema_decay: float
    seed: int
    log_every: int
    checkpoint_every: int
    cond_drop_prob: float


@dataclass
class TrainState:
    """Everything that changes during training (and is saved to resume it).

    ``scaler`` is the float16 loss scaler (None in fp32 and bf16); :func:`train_denoiser`
    makes it on the first fp16 step.
    """

    model: nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    step: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    wall_time_s: float = 0.0
    scaler: torch.amp.GradScaler | None = None

    @classmethod
    def create(cls, model: nn.Module, config: DenoiserTraining) -> TrainState:
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        return cls(
            model=model,
            ema=EMA(model, config.ema_decay),
            optimizer=optimizer,
            generator=torch.Generator().manual_seed(config.seed + 1),
        )


def index_condition(cond: Any, idx: Tensor) -> Any:
    """Rows ``idx`` of a per-example condition: a tensor (labels, token ids) or a dict of them."""
    if cond is None:
        return None
    if isinstance(cond, Mapping):
        return {k: v[idx] for k, v in cond.items()}
    return cond[idx]


def _condition_to(cond: Any, device: torch.device) -> Any:
    if isinstance(cond, Mapping):
        return {k: v.to(device) for k, v in cond.items()}
    return cond.to(device) if cond is not None else None


def _condition_rows(cond: Any) -> int:
    first = next(iter(cond.values())) if isinstance(cond, Mapping) else cond
    return int(first.shape[0])


def train_denoiser(
    model: nn.Module,
    data: Tensor,
    schedule: NoiseSchedule | FlowMatching,
    config: DenoiserTraining,
    *,
    cond: Tensor | Mapping[str, Tensor] | None = None,
    state: TrainState | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    world: World | None = None,
    coupled_noise: Tensor | None = None,
) -> TrainState:
    """Train ``model`` to predict noise on ``data`` until ``config.num_train_steps``.

    Args:
        model: a noise predictor ``model(x_t, t[, cond, cond_mask=...])``.
        data: clean training examples, shape (N, C, H, W) in [-1, 1] or (N, D).
        schedule: the noise schedule, or a :class:`~ddpm_tutorial.flow_matching.FlowMatching`
            path to train a velocity network by flow matching.
        config: batch size, steps, learning rate, EMA decay, seed, logging and checkpointing.
            ``config.batch_size`` is the global batch: under torchrun each of the processes
            computes ``batch_size / world_size`` of its rows.
        cond: optional per-example condition with N rows: (N,) int64 labels for a
            class-conditional model, (N, L) token ids or a dict of (N, ...) text features for a
            text-conditional one. It is dropped with ``config.cond_drop_prob`` per example.
        state: a :class:`TrainState` to continue from (default: a fresh one).
        device: where to train (default: :func:`~ddpm_tutorial.runtime.default_device`).
        progress: show a tqdm progress bar (in the first process only).
        on_checkpoint: called with the state every ``config.checkpoint_every`` steps, in every
            process (the caller decides who writes; see :attr:`World.is_main`).
        world: the processes training together (default: the process group in force, or this
            process alone; see :mod:`~ddpm_tutorial.training.distributed`).
        coupled_noise: flow matching only: one noise per example (shape of ``data``) to pair
            with it instead of fresh noise; reflow (Liu et al. 2023, sec. 2.3) trains on the
            pairs ``(noise, sample)`` that a trained flow's ODE makes.

    Returns:
        The final :class:`TrainState`; ``state.ema.model`` holds the averaged weights.

    Raises:
        NonFiniteLossError: if the loss becomes NaN or infinite (reported at the next logging
            point, with the step where it happened).
        ValueError: ``config.batch_size`` does not divide among the processes.
    """
    device = torch.device(device) if device is not None else default_device()
    world = world if world is not None else current_world()
    rows = world.rows(config.batch_size)  # this process's share of every global batch
    if data.ndim < 2 or data.shape[0] < 1:
        raise ValueError(f"data must have shape (N, ...) with N >= 1; got {tuple(data.shape)}")
    if coupled_noise is not None:
        if not isinstance(schedule, FlowMatching):
            raise ValueError("coupled_noise pairs noise with data for flow matching (reflow) only")
        if coupled_noise.shape != data.shape:
            raise ValueError(
                f"coupled_noise must have the shape of data, {tuple(data.shape)}; got "
                f"{tuple(coupled_noise.shape)}"
            )
        coupled_noise = coupled_noise.to(device)
    if cond is not None and _condition_rows(cond) != data.shape[0]:
        raise ValueError(
            f"cond must have one row per example ({data.shape[0]}); got {_condition_rows(cond)}"
        )
    if state is None:
        torch.manual_seed(config.seed)
        state = TrainState.create(model, config)
    model.to(device).train()
    state.ema.model.to(device)
    data = data.to(device)
    precision = resolve_precision(config.precision, device)
    if precision == "fp16" and state.scaler is None:
        state.scaler = grad_scaler(precision, device)
    scaler = state.scaler if precision == "fp16" else None
    if data.ndim == 4 and uses_channels_last(precision, device):
        # oneDNN's fp32 convolutions are faster channels-last; the batches inherit the layout
        model.to(memory_format=torch.channels_last)
        data = data.contiguous(memory_format=torch.channels_last)
    cond = _condition_to(cond, device)
    net = world.wrap(model, device)  # DistributedDataParallel under torchrun, else model itself
    N, B, g = data.shape[0], config.batch_size, state.generator
    drop = config.cond_drop_prob if cond is not None else 0.0
    bar = None
    if progress and world.is_main:
        bar = tqdm(total=config.num_train_steps, initial=state.step, desc=config.name, leave=False)
    monitor = LossMonitor()
    start = time.perf_counter() - state.wall_time_s
    hint = f"lower the learning rate (now {config.learning_rate}) or check the data for NaNs"
    while state.step < config.num_train_steps:
        # Algorithm 1's draws for the whole global batch, in noise_prediction_loss's order;
        # every process makes the same ones and keeps its own rows
        idx = torch.randint(0, N, (B,), generator=g)[rows].to(device)  # x0 ~ q(x0)
        t = _draw_times(B, schedule, g)[rows].to(device)  # t ~ Uniform{0..T-1} (DDPM)
        noise = torch.randn((B, *data.shape[1:]), generator=g)[rows].to(device)  # ~ N(0, I)
        if coupled_noise is not None:  # reflow: each example's own noise
            noise = coupled_noise[idx]
        keep = (torch.rand(B, generator=g) >= drop)[rows].to(device) if cond is not None else None
        x0, batch_cond = data[idx], index_condition(cond, idx)
        for group in state.optimizer.param_groups:
            group["lr"] = warmup_lr(state.step, config.learning_rate, config.warmup_steps)
        with autocast(precision, device):  # 16-bit matmuls and convolutions, fp32 weights
            loss = _loss(net, x0, t, noise, schedule, batch_cond, keep)
        monitor.add(state.step, world.mean(loss))  # the global batch's; read at logging points
        skipped = _optimizer_step(state, model, loss, config.grad_clip, scaler)
        state.ema.update(model, skip=skipped)
        state.step += 1
        if state.step % config.log_every == 0 or state.step == config.num_train_steps:
            monitor.check(hint)
            state.losses.append((state.step, monitor.means()["loss"]))
            if bar is not None:
                bar.set_postfix(loss=f"{state.losses[-1][1]:.4f}")
        if bar is not None:
            bar.update(1)
        state.wall_time_s = time.perf_counter() - start
        if (
            on_checkpoint is not None
            and config.checkpoint_every > 0
            and state.step % config.checkpoint_every == 0
        ):
            monitor.check(hint)
            on_checkpoint(state)
    if bar is not None:
        bar.close()
    model.eval()
    return state


def _draw_times(B: int, schedule: NoiseSchedule | FlowMatching, g: torch.Generator) -> Tensor:
    """DDPM's steps ``Uniform{0..T-1}``, or flow matching's times in (0, 1)."""
    if isinstance(schedule, FlowMatching):
        return schedule.sample_times(B, generator=g)
    return sample_steps(B, schedule, generator=g)


def _loss(
    net: Any,
    x0: Tensor,
    t: Tensor,
    noise: Tensor,
    schedule: NoiseSchedule | FlowMatching,
    cond: Any,
    keep: Tensor | None,
) -> Tensor:
    """The noise-prediction loss (Ho et al. 2020, eq. 14) or the flow-matching loss."""
    if isinstance(schedule, FlowMatching):
        return flow_matching_loss(net, x0, t, noise, schedule, cond=cond, keep=keep)
    return denoising_loss(net, x0, t, noise, schedule, cond=cond, keep=keep)


def _optimizer_step(
    state: TrainState,
    model: nn.Module,
    loss: Tensor,
    grad_clip: float,
    scaler: torch.amp.GradScaler | None,
) -> Tensor | None:
    """Backward pass, gradient clipping and the AdamW step; returns whether it was skipped.

    Without a scaler: ``loss.backward()``, clip, step; returns None (never skipped). With the
    float16 scaler: the scaled loss's backward pass, the gradients unscaled before clipping (so
    ``grad_clip`` applies to the true gradients), then ``scaler.step``, which skips the step if
    any gradient is inf or NaN. The returned bool tensor, on the device, says whether it did:
    the gradient norm is not finite exactly when some gradient is not (the unscaled float16
    gradients are far below the float32 range of their norm). Nothing is read back to the CPU.
    """
    state.optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        state.optimizer.step()
        return None
    scaler.scale(loss).backward()
    scaler.unscale_(state.optimizer)
    norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip if grad_clip > 0 else math.inf)
    scaler.step(state.optimizer)
    scaler.update()
    return ~torch.isfinite(norm)


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    data: Tensor,
    schedule: NoiseSchedule | FlowMatching,
    *,
    num_batches: int = 10,
    batch_size: int = 256,
    seed: int = 0,
    cond: Tensor | Mapping[str, Tensor] | None = None,
) -> float:
    """The simple loss on ``data`` averaged over fixed random steps and noise (deterministic).

    With a :class:`~ddpm_tutorial.flow_matching.FlowMatching` path: the flow-matching loss.

    ``cond`` (one row per example, as in :func:`train_denoiser`) is never dropped here.
    """
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    total = 0.0
    for _ in range(num_batches):
        idx = torch.randint(0, data.shape[0], (min(batch_size, data.shape[0]),), generator=g)
        batch_cond = _condition_to(index_condition(cond, idx), device)
        x0 = data[idx].to(device)
        if isinstance(schedule, NoiseSchedule):
            loss = noise_prediction_loss(model, x0, schedule, cond=batch_cond, generator=g)
        else:  # the same draws in the same order: t, the noise, the (all-kept) condition mask
            t = schedule.sample_times(x0.shape[0], generator=g).to(device)
            noise = torch.randn(x0.shape, generator=g, dtype=x0.dtype).to(device)
            keep = None
            if batch_cond is not None:
                keep = (torch.rand(x0.shape[0], generator=g) >= 0.0).to(device)
            loss = flow_matching_loss(model, x0, t, noise, schedule, cond=batch_cond, keep=keep)
        total += float(loss)
    return total / num_batches
