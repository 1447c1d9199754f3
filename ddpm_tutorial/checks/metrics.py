"""Checkers for the metrics chapter: the Fréchet distance, CLIP's loss and the CLIP score.

Each checker runs the reader's function on a small fixed input, compares it with the
package's reference (:func:`ddpm_tutorial.metrics.fid.frechet_distance`,
:func:`ddpm_tutorial.systems.clip.contrastive_loss`, the CLIP score of :mod:`ddpm_tutorial.systems.clip`),
prints ``<name> passed``, or raises ``AssertionError`` naming the usual mistake it recognises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..metrics.fid import frechet_distance, sqrt_psd
from ..systems.clip import contrastive_loss
from ._common import as_scalar, as_tensor, call_reader, compare, passed

__all__ = ["check_clip_loss", "check_clip_score", "check_frechet_distance"]

_RTOL, _ATOL = 1e-6, 1e-8


def _psd(d: int, g: torch.Generator) -> Tensor:
    """A well-conditioned random (d, d) covariance matrix, float64."""
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.2 * torch.eye(d, dtype=torch.float64)


def check_frechet_distance(candidate: Callable[[Tensor, Tensor, Tensor, Tensor], Any]) -> None:
    """Check ``candidate(mu1, sigma1, mu2, sigma2)`` -> the Fréchet distance (a number).

    The means have shape (5,) and the covariances (5, 5).
    """
    name = "check_frechet_distance"
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = (
        torch.randn(5, generator=g, dtype=torch.float64),
        torch.randn(5, generator=g, dtype=torch.float64),
    )
    s1, s2 = _psd(5, g), _psd(5, g)
    actual = as_scalar(name, call_reader(name, candidate, mu1, s1, mu2, s2), "the distance")
    expected = float(frechet_distance(mu1, s1, mu2, s2))
    mean_term = float((mu1 - mu2).square().sum())
    traces = float(s1.trace() + s2.trace())
    tr_sqrt = (mean_term + traces - expected) / 2  # Tr((S1 S2)^(1/2))
    root = sqrt_psd(s1) @ sqrt_psd(s2)
    mistakes = [
        (
            mean_term + traces - 2 * float((s1 @ s2).clamp(min=0).sqrt().trace()),
            "You took the square root entry by entry (sqrt of each element of sigma1 @ sigma2); "
            "FID needs the matrix square root, whose trace is the sum of the square roots of "
            "the eigenvalues of sigma1 @ sigma2.",
        ),
        (
            mean_term + traces - tr_sqrt,
            "The cross term needs a factor 2: Tr(S1 + S2 - 2 (S1 S2)^(1/2)).",
        ),
        (
            expected**0.5,
            "That is the square root of the distance; FID is the squared Fréchet distance, "
            "with no square root outside.",
        ),
        (
            mean_term,
            "The covariance term is missing: FID compares the spreads too, not only the means.",
        ),
        (
            mean_term + traces - 2 * float(root.trace()),
            "(S1^(1/2) S2^(1/2)) is not (S1 S2)^(1/2) when the covariances do not commute.",
        ),
    ]
    compare(
        name,
        actual,
        torch.tensor(expected),
        "the distance",
        mistakes=mistakes,
        rtol=_RTOL,
        atol=1e-6,
    )
    passed(name)


def check_clip_loss(candidate: Callable[[Tensor], Any]) -> None:
    """Check ``candidate(logits)`` -> CLIP's symmetric cross-entropy for a (B, B) matrix.

    ``logits`` has shape (6, 6), images along the rows; the result is a single number.
    """
    name = "check_clip_loss"
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 6, generator=g, dtype=torch.float64) * 3
    actual = as_scalar(name, call_reader(name, candidate, logits), "the loss")
    expected = contrastive_loss(logits)
    target = torch.arange(6)
    mistakes = [
        (
            float(F.cross_entropy(logits, target)),
            "That is only the image-to-text half (over rows); "
            "CLIP averages it with the text-to-image half, the cross-entropy over columns.",
        ),
        (
            float(F.cross_entropy(logits.T, target)),
            "That is only the text-to-image half (over columns); "
            "average it with the image-to-text half over rows.",
        ),
        (
            float(F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)),
            "Both halves are there, but CLIP takes their mean, not their sum.",
        ),
    ]
    compare(name, actual, expected, "the loss", mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)


def check_clip_score(candidate: Callable[[Tensor, Tensor], Any]) -> None:
    """Check ``candidate(image_emb, text_emb)`` -> per-pair CLIP score, shape (N,).

    The embeddings have shape (N, D) = (8, 5) and are *not* normalised; the score is
    ``100 * max(cos, 0)``.
    """
    name = "check_clip_score"
    g = torch.Generator().manual_seed(2)
    u = torch.randn(8, 5, generator=g, dtype=torch.float64) * 4
    v = torch.randn(8, 5, generator=g, dtype=torch.float64) * 0.5
    actual = as_tensor(name, call_reader(name, candidate, u, v), "the scores")
    cos = F.cosine_similarity(u, v, dim=1)
    expected = 100 * cos.clamp(min=0)
    mistakes = [
        (100 * cos, "Negative similarities must be clipped to 0: CLIP score = 100 max(cos, 0)."),
        (cos.clamp(min=0), "The score is 100 times the clipped cosine."),
        (
            100 * (u * v).sum(1).clamp(min=0),
            "Normalise the embeddings first: a dot product of unnormalised vectors is not a "
            "cosine.",
        ),
    ]
    compare(name, actual, expected, "the scores", mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
    passed(name)
