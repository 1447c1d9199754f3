"""Checkers for the metrics chapter: the Fréchet distance, CLIP's loss and the CLIP score.

Each checker runs the reader's function on a small fixed input, compares it with the
package's reference (:func:`ddpm_tutorial.fid.frechet_distance`,
:func:`ddpm_tutorial.clip.contrastive_loss`, the CLIP score of :mod:`ddpm_tutorial.clip`),
prints ``<name> passed``, or raises ``AssertionError`` naming the usual mistake it recognises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..clip import contrastive_loss
from ..fid import _sqrt_psd, frechet_distance
from ._common import as_tensor, call_reader, close, diagnose, max_diff

__all__ = ["check_clip_loss", "check_clip_score", "check_frechet_distance"]


def _psd(d: int, g: torch.Generator) -> Tensor:
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.2 * torch.eye(d, dtype=torch.float64)


def check_frechet_distance(candidate: Callable[[Tensor, Tensor, Tensor, Tensor], Any]) -> None:
    """Check ``candidate(mu1, sigma1, mu2, sigma2)`` -> the Fréchet distance (a number)."""
    name = "check_frechet_distance"
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = (
        torch.randn(5, generator=g, dtype=torch.float64),
        torch.randn(5, generator=g, dtype=torch.float64),
    )
    s1, s2 = _psd(5, g), _psd(5, g)
    actual = float(as_tensor(call_reader(name, candidate, mu1, s1, mu2, s2), "the distance"))
    expected = frechet_distance(mu1, s1, mu2, s2)
    if abs(actual - expected) <= 1e-6 * max(1.0, abs(expected)):
        print(f"{name} passed")
        return
    mean_term = float((mu1 - mu2).square().sum())
    traces = float(s1.trace() + s2.trace())
    tr_sqrt = (mean_term + traces - expected) / 2  # Tr((S1 S2)^(1/2))
    root = _sqrt_psd(s1) @ _sqrt_psd(s2)
    wrong = {
        "You took the square root entry by entry (sqrt of each element of sigma1 @ sigma2); "
        "FID needs the matrix square root, whose trace is the sum of the square roots of "
        "the eigenvalues of sigma1 @ sigma2.": mean_term
        + float(s1.trace() + s2.trace() - 2 * (s1 @ s2).clamp(min=0).sqrt().trace()),
        "The cross term needs a factor 2: Tr(S1 + S2 - 2 (S1 S2)^(1/2)).": mean_term
        + traces
        - tr_sqrt,
        "That is the square root of the distance; FID is the squared Fréchet distance, "
        "with no square root outside.": expected**0.5,
        "The covariance term is missing: FID compares the spreads too, not only the means.": mean_term,
        "(S1^(1/2) S2^(1/2)) is not (S1 S2)^(1/2) when the covariances do not commute.": mean_term
        + float(s1.trace() + s2.trace() - 2 * root.trace()),
    }
    hints = [s for s, v in wrong.items() if abs(actual - v) <= 1e-6 * max(1.0, abs(v))]
    raise AssertionError(
        f"{name} failed: expected {expected:.6g}, got {actual:.6g}."
        + "".join(" " + h for h in hints)
    )


def check_clip_loss(candidate: Callable[[Tensor], Any]) -> None:
    """Check ``candidate(logits)`` -> CLIP's symmetric cross-entropy for a (B, B) matrix."""
    name = "check_clip_loss"
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 6, generator=g, dtype=torch.float64) * 3
    actual = as_tensor(call_reader(name, candidate, logits), "the loss").reshape(())
    expected = contrastive_loss(logits).double()
    if close(actual, expected, 1e-6, 1e-8):
        print(f"{name} passed")
        return
    target = torch.arange(6)
    mistakes = [
        (
            F.cross_entropy(logits, target),
            "That is only the image-to-text half (over rows); "
            "CLIP averages it with the text-to-image half, the cross-entropy over columns.",
        ),
        (
            F.cross_entropy(logits.T, target),
            "That is only the text-to-image half (over columns); "
            "average it with the image-to-text half over rows.",
        ),
        (
            F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target),
            "Both halves are there, but CLIP takes their mean, not their sum.",
        ),
    ]
    raise AssertionError(
        f"{name} failed: expected {float(expected):.6f}, {max_diff(actual, expected)}."
        + diagnose(actual, mistakes, 1e-6, 1e-8)
    )


def check_clip_score(candidate: Callable[[Tensor, Tensor], Any]) -> None:
    """Check ``candidate(image_emb, text_emb)`` -> per-pair CLIP score, shape (N,).

    The embeddings are *not* normalised; the score is ``100 * max(cos, 0)``.
    """
    name = "check_clip_score"
    g = torch.Generator().manual_seed(2)
    u = torch.randn(8, 5, generator=g, dtype=torch.float64) * 4
    v = torch.randn(8, 5, generator=g, dtype=torch.float64) * 0.5
    actual = as_tensor(call_reader(name, candidate, u, v), "the scores")
    cos = F.cosine_similarity(u, v, dim=1)
    expected = 100 * cos.clamp(min=0)
    if close(actual, expected, 1e-6, 1e-8):
        print(f"{name} passed")
        return
    mistakes = [
        (100 * cos, "Negative similarities must be clipped to 0: CLIP score = 100 max(cos, 0)."),
        (cos.clamp(min=0), "The score is 100 times the clipped cosine."),
        (
            100 * (u * v).sum(1).clamp(min=0),
            "Normalise the embeddings first: a dot product of "
            "unnormalised vectors is not a cosine.",
        ),
    ]
    raise AssertionError(
        f"{name} failed: {max_diff(actual, expected)}." + diagnose(actual, mistakes, 1e-6, 1e-8)
    )
