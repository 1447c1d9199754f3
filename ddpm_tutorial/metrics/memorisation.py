r"""Does a model copy its training digits? Nearest training digits, against held-out digits.

A model can score a perfect FID by replaying its training set. Carlini et al. (2023,
"Extracting Training Data from Diffusion Models") call a training example x extracted when a
generated image :math:`\hat x` lies within a distance :math:`\delta` of it,
:math:`\ell(x, \hat x) \le \delta` (their "(ℓ, δ)-diffusion extraction"; for CIFAR-10 they use
the Euclidean distance in pixel space, calibrated against the generated image's distances to
other training images). On MNIST, where digits resemble each other, a fixed :math:`\delta` means
little, so :math:`\delta` is calibrated here on digits the model never saw:

* for every sample, the distance to its nearest training digit, :math:`d(\hat x)`;
* for every held-out real digit h, the same distance, :math:`d(h)`: how close a *fresh*
  digit from the true distribution comes to the training set by chance;
* :math:`\delta` = the q-quantile of the held-out distances (q = 1% by default), and the
  **flagged fraction**: the share of samples with :math:`d(\hat x) < \delta`. A model that
  draws fresh digits is flagged about as often as held-out digits are, a fraction q; a model
  that copies is flagged far more often.

Both distances are measured twice: in pixel space (the Euclidean distance between images in
[-1, 1], as Carlini et al.) and in the FID's feature space (which ignores a one-pixel shift that
pixel distance punishes). :func:`nearest_pairs` returns the closest sample-training pairs for a
figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..data.mnist import load_mnist
from .fid import DEFAULT_FEATURES, extract_features, real_features

__all__ = ["Memorisation", "SpaceDistances", "memorisation", "nearest_neighbours", "nearest_pairs"]

_CHUNK = 512


def nearest_neighbours(queries: Tensor, bank: Tensor) -> tuple[Tensor, Tensor]:
    """Euclidean distance from each query to its nearest point of the bank, and its index.

    Args:
        queries: (Q, ...) points (images are flattened).
        bank: (B, ...) points of the same shape.

    Returns:
        (distances (Q,) float64, indices (Q,) int64 into ``bank``).
    """
    q, b = queries.flatten(1).double(), bank.flatten(1).double()
    if q.shape[1] != b.shape[1]:
        raise ValueError(
            f"queries and bank must have the same dimension; got {q.shape[1]} and {b.shape[1]}"
        )
    dist, idx = [], []
    for i in range(0, q.shape[0], _CHUNK):
        d, j = torch.cdist(q[i : i + _CHUNK], b).min(dim=1)
        dist.append(d)
        idx.append(j)
    return torch.cat(dist), torch.cat(idx)


@dataclass(frozen=True)
class SpaceDistances:
    """Nearest-training-digit distances in one space (pixels or features)."""

    sample: Tensor  # (M,) distance of each sample to its nearest training digit
    sample_index: Tensor  # (M,) that training digit's index
    held_out: Tensor  # (H,) distance of each held-out digit to its nearest training digit
    quantile: float

    @property
    def threshold(self) -> float:
        """delta: the ``quantile`` of the held-out distances."""
        return float(torch.quantile(self.held_out, self.quantile))

    @property
    def flagged_fraction(self) -> float:
        """Share of samples closer to a training digit than delta."""
        return float((self.sample < self.threshold).double().mean())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: threshold, flagged fraction (and the held-out's), medians."""
        return {
            "threshold": round(self.threshold, 4),
            "flagged_fraction": round(self.flagged_fraction, 4),
            "held_out_flagged_fraction": round(
                float((self.held_out < self.threshold).double().mean()), 4
            ),
            "median_sample_distance": round(float(self.sample.median()), 4),
            "median_held_out_distance": round(float(self.held_out.median()), 4),
            "min_sample_distance": round(float(self.sample.min()), 4),
        }


@dataclass(frozen=True)
class Memorisation:
    """:func:`memorisation`'s result: distances in pixel space and in feature space."""

    pixels: SpaceDistances
    features: SpaceDistances
    num_samples: int
    num_train: int
    num_held_out: int
    feature_name: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the counts, q, and one summary per space."""
        return {
            "num_samples": self.num_samples,
            "num_train": self.num_train,
            "num_held_out": self.num_held_out,
            "quantile": self.pixels.quantile,
            "criterion": "a sample is flagged when it is closer to its nearest training digit "
            "than the given quantile of the held-out digits' nearest-training-digit distances",
            "pixels": self.pixels.as_dict(),
            "features": {"name": self.feature_name, **self.features.as_dict()},
        }


def memorisation(
    samples: Tensor,
    *,
    train: Tensor | None = None,
    held_out: Tensor | None = None,
    features: str = DEFAULT_FEATURES,
    quantile: float = 0.01,
    source: str = "auto",
) -> Memorisation:
    """How close samples come to the training digits, against how close held-out digits come.

    Args:
        samples: (M, 1, 28, 28) in [-1, 1] (values outside are clipped).
        train: the training digits (default: ``load_mnist("train")``, what the book's models
            learn from).
        held_out: real digits not in ``train`` (default: ``load_mnist("test")``).
        features: the feature space's name (see :func:`~ddpm_tutorial.metrics.fid.
            load_feature_extractor`).
        quantile: q; the threshold delta is this quantile of the held-out distances.
        source: the MNIST source of the default splits.

    Returns:
        A :class:`Memorisation`; ``.as_dict()`` is the JSON summary.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1); got {quantile}")
    if samples.ndim != 4 or tuple(samples.shape[1:]) != (1, 28, 28):
        raise ValueError(f"samples must have shape (M, 1, 28, 28); got {tuple(samples.shape)}")
    x = samples.clamp(-1, 1)
    if train is None:
        train = load_mnist("train", source=source, verbose=False).images
        train_f = real_features(features, "train", source)
    else:
        train_f = extract_features(train, features)
    if held_out is None:
        held_out = load_mnist("test", source=source, verbose=False).images
        held_f = real_features(features, "test", source)
    else:
        held_f = extract_features(held_out, features)

    def space(s: Tensor, t: Tensor, h: Tensor) -> SpaceDistances:
        d, i = nearest_neighbours(s, t)
        return SpaceDistances(d, i, nearest_neighbours(h, t)[0], quantile)

    return Memorisation(
        pixels=space(x, train, held_out),
        features=space(extract_features(x, features), train_f, held_f),
        num_samples=int(x.shape[0]),
        num_train=int(train.shape[0]),
        num_held_out=int(held_out.shape[0]),
        feature_name=features,
    )


def nearest_pairs(
    samples: Tensor, train: Tensor, distances: SpaceDistances, count: int = 8
) -> tuple[Tensor, Tensor]:
    """The ``count`` samples closest to a training digit, beside that digit, for a figure.

    Args:
        samples: the (M, 1, 28, 28) samples :func:`memorisation` measured.
        train: the training digits it measured them against.
        distances: ``result.pixels`` or ``result.features``.
        count: how many pairs, closest first.

    Returns:
        (images (2, count, 1, 28, 28): row 0 the samples, row 1 their nearest training
        digits; distances (count,)). ``torch.cat(list(images))`` shows as two rows of
        ``count`` with ``show_images(..., nrow=count)``.
    """
    count = min(count, samples.shape[0])
    order = distances.sample.argsort()[:count]
    pair = torch.stack([samples[order].clamp(-1, 1), train[distances.sample_index[order]]])
    return pair, distances.sample[order]
