"""Watching the loss without stalling the device: sums on the device, read at logging points.

``float(loss)`` after every step makes the CPU wait for the GPU to finish that step. The
training loops instead add each loss to a running sum on the device and read the sums back
only when they log; a loss that is NaN or infinite is remembered (with its step) on the device
too, and reported at the next logging point.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["LossMonitor", "NonFiniteLossError"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class LossMonitor:
    """Running means of logged values, and the first non-finite loss, kept on the device."""

    def __init__(self) -> None:
        self.count = 0
        self._sums: dict[str, Tensor | float] = {}
        self._first_bad: Tensor | None = None  # (2,) float64: [step, loss] of the first bad loss

    def add(
        self, step: int, loss: Tensor, logged: Mapping[str, Tensor | float] | None = None
    ) -> None:
        """Record one step's loss (a scalar tensor) and the values to log (default: the loss)."""
        detached = loss.detach()
        bad = ~torch.isfinite(detached)
        entry = torch.stack(
            [torch.full_like(detached, step, dtype=torch.float64), detached.double()]
        )
        if self._first_bad is None:
            self._first_bad = torch.where(bad, entry, torch.full_like(entry, -1.0))
        else:
            fresh = bad & (self._first_bad[0] < 0)
            self._first_bad = torch.where(fresh, entry, self._first_bad)
        for name, value in (logged if logged is not None else {"loss": detached}).items():
            value = value.detach().double() if isinstance(value, Tensor) else float(value)
            self._sums[name] = self._sums[name] + value if name in self._sums else value
        self.count += 1

    def check(self, hint: str = "lower the learning rate or check the data for NaNs") -> None:
        """Raise :class:`NonFiniteLossError` naming the step of the first non-finite loss, if any."""
        if self._first_bad is None:
            return
        step, value = (float(v) for v in self._first_bad.cpu())
        if step >= 0:
            raise NonFiniteLossError(f"the loss became {value} at step {int(step)}; {hint}")

    def means(self) -> dict[str, float]:
        """The mean of each logged value since the last call (read from the device), then reset."""
        out = {name: float(total) / self.count for name, total in self._sums.items()}
        self._sums, self.count = {}, 0
        return out
