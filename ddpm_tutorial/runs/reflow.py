"""Reflow: a few-step student trained on the pairs its teacher's ODE draws (Liu et al. 2023).

A flow model's ODE maps each noise ``z`` to one digit ``x0 = ODE(z)``. Rectified flow's
reflow (Liu et al. 2023) trains a new flow on those *coupled* pairs: the straight line from
``z`` to its own ``x0`` instead of the line from ``z`` to a random digit. The lines of
different pairs cross less, so the new flow's paths are straighter (their straightness, sec.
2.2) and a few Euler steps follow them well. The student learns the teacher's samples, not the
data: at many steps it can do no better than they do, and it inherits their errors.

:func:`teacher_pairs` draws the pairs (seeded, in batches); :func:`run_training` calls it when a
config names a ``teacher``, starts the student from the teacher's weights and trains it with
``train_denoiser(..., coupled_noise=noise)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..checkpoints import Checkpoint, load_checkpoint
from ..flow_matching import FlowMatching, sample_flow
from .config import TrainConfig

__all__ = ["load_teacher", "teacher_pairs"]


def load_teacher(config: TrainConfig, device: torch.device | str = "cpu") -> Checkpoint:
    """The flow checkpoint ``config.teacher``, checked to be unconditional flow matching."""
    teacher = load_checkpoint(config.teacher, device=device)
    if not isinstance(teacher.schedule, FlowMatching):
        raise ValueError(
            f"reflow needs a flow-matching teacher; {config.teacher!r} is not one "
            "(train it with --objective flow, like mnist-flow)"
        )
    if teacher.card.get("conditioning", "none") != "none":
        raise ValueError(f"reflow trains unconditional students; {config.teacher!r} is conditional")
    return teacher


@torch.no_grad()
def teacher_pairs(
    teacher: Checkpoint,
    config: TrainConfig,
    *,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """``config.num_pairs`` couples ``(x0, z)`` with ``x0 = ODE_teacher(z)``.

    The noise is drawn from ``torch.Generator().manual_seed(config.seed)``, batch by batch, so
    the same config always makes the same pairs (a resumed run regenerates them exactly).

    Returns:
        ``x0`` (N, C, H, W) in the teacher's output range, ``z`` (N, C, H, W) standard normal,
        and the description the card stores under ``data``.
    """
    assert isinstance(teacher.schedule, FlowMatching)
    g = torch.Generator().manual_seed(config.seed)
    cfg = teacher.model.config  # type: ignore[union-attr]
    shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
    digits, noises = [], []
    for start in range(0, config.num_pairs, batch_size):
        n = min(batch_size, config.num_pairs - start)
        z = torch.randn(n, *shape, generator=g)
        x0 = sample_flow(
            teacher.model,
            teacher.schedule,
            z.shape,
            num_steps=config.teacher_steps,
            solver=config.teacher_solver,  # type: ignore[arg-type]
            x_T=z.to(device),
        )
        digits.append(x0.cpu())  # type: ignore[union-attr]
        noises.append(z)
    info = {
        "dataset": f"pairs drawn by {teacher.name}",
        "teacher": teacher.name,
        "teacher_sha256": teacher.card.get("sha256"),
        "teacher_solver": config.teacher_solver,
        "teacher_steps": config.teacher_steps,
        "num_pairs": config.num_pairs,
        "noise_seed": config.seed,
    }
    return torch.cat(digits), torch.cat(noises), info
