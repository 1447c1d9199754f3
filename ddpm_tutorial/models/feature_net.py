r"""The MNIST feature networks behind the book's offline FID (see :mod:`ddpm_tutorial.metrics.fid`).

FID compares Gaussian fits of image *features*. Heusel et al. (2017) take the 2048-d pool3
activations of Inception-v3, an ImageNet classifier; for 28x28 digits (and offline) the book
trains its own small classifier, :class:`FeatureNet`, and reads it in one of two ways:

* :meth:`FeatureNet.features`: its 64-d penultimate layer (``mnist-features``, the first
  offline FID of the book). Training to classify pulls every "3" towards one point, so this
  layer barely moves when strokes get thicker, ink turns pure black and white, or a model
  draws the same few 3s again and again.
* :class:`StyleFeatureNet`: the same network read at three depths (``mnist-style-features``,
  the book's default FID features). The spatial means of conv stages 1 and 2 say how much of
  each kind of stroke piece a digit has (stroke width, contrast, sharpness, speckle); the 64-d
  embedding keeps the class. Each block is scaled by one number so that its mean
  per-dimension variance over the training digits is 1, then the blocks are concatenated:
  ``C + 2C + feature_dim`` features (160 for the default sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["FeatureNetConfig", "FeatureNet", "StyleFeatureNet"]


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

    def stages(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The three conv stages' outputs, each after its max-pool.

        Args:
            x: digits, shape (B, 1, 28, 28), in [-1, 1].

        Returns:
            (B, C, 14, 14), (B, 2C, 7, 7) and (B, 4C, 3, 3), with C = ``config.channels``.
        """
        _check_digits(x, type(self).__name__)
        h1 = self.body[0:7](x)  # stage 1: 28x28 -> 14x14
        h2 = self.body[7:14](h1)  # stage 2: 14x14 -> 7x7
        return h1, h2, self.body[14:21](h2)  # stage 3: 7x7 -> 3x3

    def features(self, x: Tensor) -> Tensor:
        """The penultimate layer: (B, 1, 28, 28) -> (B, feature_dim), after its ReLU."""
        _check_digits(x, type(self).__name__)
        return self.embed(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, 10) for digits (B, 1, 28, 28) in [-1, 1]."""
        return self.classify(self.features(x))


class StyleFeatureNet(nn.Module):
    r"""A :class:`FeatureNet` read at three depths: FID features that see stroke style and class.

    :meth:`features` maps digits (B, 1, 28, 28) in [-1, 1] to (B, D), D = C + 2C + feature_dim
    (160 for the default C = 32, feature_dim = 64), the concatenation of three blocks
    (:attr:`blocks`):

    * ``stroke``: the spatial mean of stage 1 (C channels, mean over 14x14);
    * ``parts``: the spatial mean of stage 2 (2C channels, mean over 7x7);
    * ``class``: the ``feature_dim`` embedding of :meth:`FeatureNet.features`.

    Block j is multiplied by ``block_scale[j]``, a buffer saved with the weights, which
    :func:`ddpm_tutorial.metrics.features.fit_block_scales` sets to
    :math:`1/\sqrt{\bar v_j}`, with :math:`\bar v_j` the mean per-dimension variance of the
    block over the training digits. Until it is set (all zeros), :meth:`features` refuses to
    run. ``forward`` gives the classifier's logits (B, 10), as a :class:`FeatureNet` does,
    so the network trains as a digit classifier.
    """

    def __init__(self, config: FeatureNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FeatureNetConfig()
        self.net = FeatureNet(cfg)
        c = cfg.channels
        #: block name -> its columns in :meth:`features`
        self.blocks: dict[str, slice] = {
            "stroke": slice(0, c),
            "parts": slice(c, 3 * c),
            "class": slice(3 * c, 3 * c + cfg.feature_dim),
        }
        self.register_buffer("block_scale", torch.zeros(3))

    @property
    def feature_dim(self) -> int:
        """D, the number of features: C + 2C + feature_dim."""
        return 3 * self.config.channels + self.config.feature_dim

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, 10) for digits (B, 1, 28, 28) in [-1, 1]."""
        return self.net(x)

    def unscaled_blocks(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The three blocks before scaling: (B, C), (B, 2C) and (B, feature_dim).

        Args:
            x: digits, shape (B, 1, 28, 28), in [-1, 1].
        """
        h1, h2, h3 = self.net.stages(x)
        return h1.mean(dim=(2, 3)), h2.mean(dim=(2, 3)), self.net.embed(h3)

    def features(self, x: Tensor) -> Tensor:
        """FID features (B, D) = [stroke | parts | class], each block times its scale.

        Args:
            x: digits, shape (B, 1, 28, 28), in [-1, 1].

        Raises:
            RuntimeError: the block scales were never fitted (they are all zero).
        """
        if not bool((self.block_scale > 0).all()):
            raise RuntimeError(
                f"block_scale is {self.block_scale.tolist()}: fit it on the training digits "
                "first (ddpm_tutorial.metrics.features.fit_block_scales)"
            )
        blocks = self.unscaled_blocks(x)
        return torch.cat([b * s for b, s in zip(blocks, self.block_scale)], dim=1)


def _check_digits(x: Tensor, who: str) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{who} expects images of shape (B, 1, 28, 28); got {tuple(x.shape)}")
