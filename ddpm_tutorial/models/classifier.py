"""A small CNN digit classifier for 28x28 images: the network of the digit judge.

It is trained, loaded and used by :mod:`ddpm_tutorial.metrics.classifier`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

__all__ = ["DigitClassifierConfig", "DigitClassifier"]


@dataclass(frozen=True)
class DigitClassifierConfig:
    """Sizes of :class:`DigitClassifier`."""

    channels: int = 32
    hidden: int = 128
    dropout: float = 0.3


class DigitClassifier(nn.Module):
    """Two conv blocks and an MLP: (B, 1, 28, 28) in [-1, 1] -> logits (B, 10)."""

    def __init__(self, config: DigitClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DigitClassifierConfig()
        c = cfg.channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(c, 2 * c, 3, padding=1),
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1),
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 7x7
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(cfg.dropout),
            nn.Linear(2 * c * 49, cfg.hidden),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"DigitClassifier expects images of shape (B, 1, 28, 28); got {tuple(x.shape)}"
            )
        return self.head(self.features(x))
