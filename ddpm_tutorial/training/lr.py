"""Learning-rate schedules: the denoisers' warm-up, and the one-cycle schedule of ``fit``.

Every schedule of the package comes from here, so a guard written once protects every loop.
"""

from __future__ import annotations

import torch

__all__ = ["one_cycle", "warmup_lr"]


def warmup_lr(step: int, lr: float, warmup_steps: int) -> float:
    """The denoisers' schedule: linear warm-up to ``lr`` over ``warmup_steps``, then constant.

    Args:
        step: the 0-based optimizer step about to be taken.
        lr: the learning rate after warm-up.
        warmup_steps: steps of the warm-up (0: none).
    """
    if warmup_steps <= 0:
        return lr
    return lr * min(1.0, (step + 1) / warmup_steps)


def one_cycle(
    optimizer: torch.optim.Optimizer, lr: float, steps: int, warmup: float = 0.05
) -> torch.optim.lr_scheduler.OneCycleLR:
    """A one-cycle schedule (Smith & Topin 2019): warm up to ``lr`` over a ``warmup`` fraction
    of ``steps``, then anneal with a cosine to ``lr / 25e4``.

    The warm-up lasts at least two steps: torch's OneCycleLR divides by zero when it lasts
    exactly one (``warmup * steps == 1``, e.g. 20 steps at 5%).

    Raises:
        ValueError: for ``steps < 1`` or a warm-up fraction outside (0, 1).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    if not 0 < warmup < 1:
        raise ValueError(f"warmup must be a fraction in (0, 1); got {warmup}")
    fraction = max(warmup, 2 / steps) if steps > 2 else warmup
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=fraction)
