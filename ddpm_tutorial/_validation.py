"""Input checks shared by the public functions: one readable sentence per wrong input."""

from __future__ import annotations

from torch import Tensor

from .schedules import NoiseSchedule


def check_images(x: Tensor, name: str = "x") -> None:
    """Raise unless ``x`` is a floating-point tensor of shape (B, ...) with at least 2 dims."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have shape (B, ...) with a batch dimension; got {tuple(x.shape)}"
        )


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """Raise unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} shape {tuple(a.shape)} != {name_b} shape {tuple(b.shape)}")


def check_x_and_t(x: Tensor, t: Tensor, schedule: NoiseSchedule, name: str = "x") -> None:
    """Raise unless ``x`` is a batch of images and ``t`` valid steps for it."""
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule; got {type(schedule).__name__}")
    check_images(x, name)
    schedule.check_steps(t, batch_size=x.shape[0])
