"""An exponential moving average of a network's weights, used for sampling.

``theta_ema <- d theta_ema + (1 - d) theta`` after every optimizer step, with the decay
warmed up as ``d = min(decay, (1 + n) / (10 + n))`` after n updates so that early averages
are not dominated by the random initialisation. Ho et al. (2020) sample from the EMA weights
(decay 0.9999); averaging smooths out the noise of the last steps of SGD.

Under float16 training a step whose gradients overflow is skipped by the loss scaler, and the
weights do not move; :meth:`EMA.update` is then told ``skip`` and leaves the average where it
was too, on the device, without reading anything back. The count n still advances, so the
decay's warm-up follows the training step, as the learning rate's warm-up does.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["EMA"]


class EMA:
    """Keeps ``self.model``, an averaged copy of a network, in eval mode and without gradients."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1); got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update will use."""
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module, skip: Tensor | None = None) -> None:
        """Move the average toward ``model``'s current weights (buffers are copied).

        Args:
            model: the network being trained.
            skip: optional bool scalar tensor (on the weights' device): where True, the
                optimizer skipped this step, and the average is left as it is.
        """
        d = self.current_decay()
        weight: float | Tensor = 1.0 - d
        if skip is not None:
            weight = (~skip).to(torch.float32) * (1.0 - d)
        for p_ema, p in zip(self.model.parameters(), model.parameters()):
            p_ema.lerp_(p.detach(), weight)
        for b_ema, b in zip(self.model.buffers(), model.buffers()):
            b_ema.copy_(b)
        self.num_updates += 1
