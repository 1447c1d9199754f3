"""One optimisation loop for every network that is not a denoiser.

The classifiers, CLIP, the autoencoder, the super-resolution CNN, unCLIP's priors and both
stages of the first DALL-E train through :func:`fit`; each brings only its loss. (The
denoisers have their own loop, :func:`~ddpm_tutorial.training.loop.train_denoiser`, with EMA
and resumable checkpoints.)

A step is::

    loss, logged = step_loss(step)        # the recipe draws its batch from its own generator
    optimizer.zero_grad(); loss.backward(); clip the gradient norm; optimizer.step(); schedule.step()

with AdamW and the one-cycle learning rate of :func:`~ddpm_tutorial.training.lr.one_cycle`.
The losses stay on the device and are read back only at logging points (where a non-finite
loss is reported with the step at which it first appeared), so the loop never waits on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import Tensor, nn

from .lr import one_cycle
from .monitor import LossMonitor

__all__ = ["StepLoss", "fit"]

#: ``step_loss(step)`` for steps 1..N: the loss, or the loss and the values to log (name -> scalar)
StepLoss = Callable[[int], Tensor | tuple[Tensor, Mapping[str, Tensor | float]]]


def fit(
    model: nn.Module,
    step_loss: StepLoss,
    *,
    steps: int,
    lr: float,
    weight_decay: float = 0.01,
    warmup: float = 0.05,
    grad_clip: float | None = None,
    log_every: int | None = None,
    params: Iterable[nn.Parameter] | None = None,
    after_step: Callable[[int], None] | None = None,
) -> list[tuple[float, ...]]:
    """Minimise ``step_loss`` for ``steps`` AdamW steps under a one-cycle learning rate.

    Args:
        model: the network; it is in train mode during the loop and left in eval mode.
        step_loss: called with the step (1..steps); returns the loss, or ``(loss, logged)``
            where ``logged`` maps names to the scalars whose means are logged (default: the
            loss itself).
        steps: optimizer steps.
        lr: the peak learning rate.
        weight_decay: AdamW's decoupled weight decay (torch's default, 0.01).
        warmup: the warm-up fraction of the one-cycle schedule.
        grad_clip: clip the gradient norm at this value (None: no clipping).
        log_every: log every N steps (default ``max(1, steps // 20)``).
        params: the parameters to train (default: all of ``model``'s).
        after_step: called with the step after each optimizer step.

    Returns:
        One row per logging point: ``(step, mean of each logged value since the last row)``.

    Raises:
        NonFiniteLossError: a loss became NaN or infinite (a ``FloatingPointError``; the
            message names the step).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    every = log_every or max(1, steps // 20)
    trained = list(params) if params is not None else list(model.parameters())
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=weight_decay)
    schedule = one_cycle(optimizer, lr, steps, warmup)
    model.train()
    log: list[tuple[float, ...]] = []
    monitor = LossMonitor()
    for step in range(1, steps + 1):
        out = step_loss(step)
        loss, logged = (out, None) if isinstance(out, Tensor) else out
        monitor.add(step, loss, logged)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(trained, grad_clip)
        optimizer.step()
        schedule.step()
        if after_step is not None:
            after_step(step)
        if step % every == 0 or step == steps:
            monitor.check()
            if step % every == 0:
                log.append((step, *monitor.means().values()))
    model.eval()
    return log
