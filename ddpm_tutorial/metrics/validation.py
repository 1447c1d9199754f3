"""Does an FID see what it should? Corrupt real digits and watch the FID rise.

A feature extractor earns trust when its FID moves with the damage: near zero for real digits
that are not in the reference, and rising monotonically as the digits are blurred, noised or
shuffled more. :func:`fid_validation` measures exactly that, and ``train-features`` records it
in the card of ``mnist-features``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .fid import FeatureExtractor, extract_features, frechet_distance, gaussian_statistics

__all__ = ["CORRUPTIONS", "VALIDATION_STRENGTHS", "corrupt_images", "fid_validation"]

CORRUPTIONS = ("blur", "noise", "shuffle")


def _gaussian_kernel(sigma: float) -> Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def corrupt_images(
    images: Tensor, kind: str, strength: float, generator: torch.Generator | None = None
) -> Tensor:
    """Corrupt digits (N, 1, H, W) in [-1, 1] to check that FID rises with the corruption.

    The kinds:

    * ``"blur"``: Gaussian blur with standard deviation ``strength`` pixels;
    * ``"noise"``: add Gaussian noise of standard deviation ``strength`` (then clip);
    * ``"shuffle"``: move a fraction ``strength`` in [0, 1] of the pixel positions to
      random places (the same positions in every image, permuted among themselves).

    ``strength = 0`` returns the images unchanged.
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)}")
    if strength < 0:
        raise ValueError(f"strength must be >= 0; got {strength}")
    if strength == 0:
        return images.clone()
    if kind == "blur":
        k = _gaussian_kernel(strength).to(images)
        r = (k.numel() - 1) // 2
        x = F.pad(images + 1, (r, r, r, r))  # pad with background (-1 -> 0)
        x = F.conv2d(
            x, k.view(1, 1, 1, -1).expand(images.shape[1], 1, 1, -1), groups=images.shape[1]
        )
        x = F.conv2d(
            x, k.view(1, 1, -1, 1).expand(images.shape[1], 1, -1, 1), groups=images.shape[1]
        )
        return x - 1
    if kind == "noise":
        noise = torch.randn(images.shape, generator=generator).to(images)
        return (images + strength * noise).clamp(-1, 1)
    if strength > 1:
        raise ValueError(f"shuffle strength is a fraction in [0, 1]; got {strength}")
    N, C, H, W = images.shape
    flat = images.reshape(N, C, H * W).clone()
    n_move = int(round(strength * H * W))
    chosen = torch.randperm(H * W, generator=generator)[:n_move]
    flat[:, :, chosen] = flat[:, :, chosen[torch.randperm(n_move, generator=generator)]]
    return flat.reshape(N, C, H, W)


#: the corruption strengths of :func:`fid_validation`
VALIDATION_STRENGTHS: dict[str, tuple[float, ...]] = {
    "blur": (0.5, 1.0, 1.5, 2.0),
    "noise": (0.1, 0.2, 0.4, 0.8),
    "shuffle": (0.05, 0.1, 0.2, 0.4),
}


def fid_validation(
    extractor: FeatureExtractor | str,
    real: Tensor,
    reference: Tensor,
    *,
    num_images: int = 1000,
    strengths: dict[str, tuple[float, ...]] | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Check an extractor's FID: real digits near zero, corrupted digits worse, monotonically.

    Args:
        extractor: a feature extractor or its name.
        real: real digits not in the reference (e.g. the training split), (N, 1, 28, 28).
        reference: the reference digits (the held-out split).
        num_images: how many of ``real`` to score (the same number for every corruption).
        strengths: corruption -> increasing strengths (default ``VALIDATION_STRENGTHS``).

    Returns:
        ``real`` (FID of clean real digits), one ``{strength: FID}`` table per corruption,
        ``monotonic`` (True when every table rises with the strength and starts above
        ``real``) and the image counts.
    """
    g = torch.Generator().manual_seed(seed)
    pick = real[torch.randperm(real.shape[0], generator=g)[:num_images]]
    mu_r, sigma_r = gaussian_statistics(extract_features(reference, extractor))

    def score(images: Tensor) -> float:
        mu, sigma = gaussian_statistics(extract_features(images, extractor))
        return round(frechet_distance(mu, sigma, mu_r, sigma_r), 3)

    clean = score(pick)
    out: dict[str, object] = {
        "num_images": int(pick.shape[0]),
        "num_reference": int(reference.shape[0]),
        "real": clean,
    }
    monotonic = True
    for kind, levels in (strengths or VALIDATION_STRENGTHS).items():
        table = {str(s): score(corrupt_images(pick, kind, s, g)) for s in levels}
        values = [clean, *table.values()]
        monotonic &= all(a < b for a, b in zip(values, values[1:]))
        out[kind] = table
    out["monotonic"] = monotonic
    return out
