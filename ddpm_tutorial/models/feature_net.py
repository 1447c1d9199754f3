"""The MNIST feature network behind the book's offline FID (see :mod:`ddpm_tutorial.metrics.fid`).

FID compares Gaussian fits of image *features*. Heusel et al. (2017) take the 2048-d pool3
activations of Inception-v3, an ImageNet classifier; for 28x28 digits (and offline) the book
trains its own small classifier and reads its penultimate layer instead. The features must
respond to what makes a digit look real (strokes, shapes, class), which is what training it
to classify digits under augmentation gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

__all__ = ["FeatureNetConfig", "FeatureNet"]


@dataclass(frozen=True)
class FeatureNetConfig:
    """Sizes of :class:`FeatureNet`."""

    channels: int = 32
    feature_dim: int = 64
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.channels < 1 or self.feature_dim < 2:
            raise ValueError(
                f"channels must be >= 1 and feature_dim >= 2; got {self.channels}, {self.feature_dim}"
            )


class FeatureNet(nn.Module):
    """Conv net (B, 1, 28, 28) in [-1, 1] -> logits (B, 10); :meth:`features` -> (B, feature_dim).

    Three conv stages (28 -> 14 -> 7 -> 3 after pooling), a linear layer to ``feature_dim``
    with a ReLU (the features, non-negative like Inception's pool3), then a linear classifier.
    """

    def __init__(self, config: FeatureNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FeatureNetConfig()
        c = cfg.channels

        def stage(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]

        self.body = nn.Sequential(*stage(1, c), *stage(c, 2 * c), *stage(2 * c, 4 * c))  # 3x3
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(4 * c * 9, cfg.feature_dim), nn.ReLU())
        self.classify = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.feature_dim, 10))

    def features(self, x: Tensor) -> Tensor:
        """The FID features: (B, 1, 28, 28) -> (B, feature_dim)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"FeatureNet expects images of shape (B, 1, 28, 28); got {tuple(x.shape)}"
            )
        return self.embed(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.features(x))
