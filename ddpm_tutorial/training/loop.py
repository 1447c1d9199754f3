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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..losses import noise_prediction_loss
from ..precision import autocast, resolve_precision, uses_channels_last
from ..runtime import default_device
from ..schedules import NoiseSchedule
from .ema import EMA
from .lr import warmup_lr
from .monitor import LossMonitor, NonFiniteLossError

__all__ = [
    "DenoiserTraining",
    "NonFiniteLossError",
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
    """Everything that changes during training (and is saved to resume it)."""

    model: nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    step: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    wall_time_s: float = 0.0

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
    schedule: NoiseSchedule,
    config: DenoiserTraining,
    *,
    cond: Tensor | Mapping[str, Tensor] | None = None,
    state: TrainState | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_checkpoint: Callable[[TrainState], None] | None = None,
) -> TrainState:
    """Train ``model`` to predict noise on ``data`` until ``config.num_train_steps``.

    Args:
        model: a noise predictor ``model(x_t, t[, cond, cond_mask=...])``.
        data: clean training examples, shape (N, C, H, W) in [-1, 1] or (N, D).
        schedule: the noise schedule.
        config: batch size, steps, learning rate, EMA decay, seed, logging and checkpointing.
        cond: optional per-example condition with N rows: (N,) int64 labels for a
            class-conditional model, (N, L) token ids or a dict of (N, ...) text features for a
            text-conditional one. It is dropped with ``config.cond_drop_prob`` per example.
        state: a :class:`TrainState` to continue from (default: a fresh one).
        device: where to train (default: :func:`~ddpm_tutorial.runtime.default_device`).
        progress: show a tqdm progress bar.
        on_checkpoint: called with the state every ``config.checkpoint_every`` steps.

    Returns:
        The final :class:`TrainState`; ``state.ema.model`` holds the averaged weights.

    Raises:
        NonFiniteLossError: if the loss becomes NaN or infinite.
    """
    device = torch.device(device) if device is not None else default_device()
    if data.ndim < 2 or data.shape[0] < 1:
        raise ValueError(f"data must have shape (N, ...) with N >= 1; got {tuple(data.shape)}")
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
    if data.ndim == 4 and uses_channels_last(precision, device):
        # oneDNN's fp32 convolutions are faster channels-last; the batches inherit the layout
        model.to(memory_format=torch.channels_last)
        data = data.contiguous(memory_format=torch.channels_last)
    cond = _condition_to(cond, device)
    N = data.shape[0]
    bar = None
    if progress:
        bar = tqdm(total=config.num_train_steps, initial=state.step, desc=config.name, leave=False)
    monitor = LossMonitor()
    start = time.perf_counter() - state.wall_time_s
    hint = f"lower the learning rate (now {config.learning_rate}) or check the data for NaNs"
    while state.step < config.num_train_steps:
        idx = torch.randint(0, N, (config.batch_size,), generator=state.generator).to(device)
        x0 = data[idx]
        for group in state.optimizer.param_groups:
            group["lr"] = warmup_lr(state.step, config.learning_rate, config.warmup_steps)
        batch_cond = index_condition(cond, idx)
        with autocast(precision, device):  # bf16 matmuls and convolutions, fp32 weights and loss
            loss = noise_prediction_loss(
                model,
                x0,
                schedule,
                cond=batch_cond,
                cond_drop_prob=config.cond_drop_prob if cond is not None else 0.0,
                generator=state.generator,
            )
        monitor.add(state.step, loss)  # stays on the device until the next logging point
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        state.optimizer.step()
        state.ema.update(model)
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


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    data: Tensor,
    schedule: NoiseSchedule,
    *,
    num_batches: int = 10,
    batch_size: int = 256,
    seed: int = 0,
    cond: Tensor | Mapping[str, Tensor] | None = None,
) -> float:
    """The simple loss on ``data`` averaged over fixed random steps and noise (deterministic).

    ``cond`` (one row per example, as in :func:`train_denoiser`) is never dropped here.
    """
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    total = 0.0
    for _ in range(num_batches):
        idx = torch.randint(0, data.shape[0], (min(batch_size, data.shape[0]),), generator=g)
        batch_cond = _condition_to(index_condition(cond, idx), device)
        x0 = data[idx].to(device)
        total += float(noise_prediction_loss(model, x0, schedule, cond=batch_cond, generator=g))
    return total / num_batches
