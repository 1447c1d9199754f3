"""Metrics of a file of samples, as ``python -m ddpm_tutorial evaluate`` prints them.

For now: the array's shape and pixel statistics, and the held-out digit classifier's
judgement (:func:`~ddpm_tutorial.digit_classifier.digit_quality`). FID and CLIP score join
them in Part IV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .digit_classifier import digit_quality, load_digit_classifier

__all__ = ["evaluate_samples_file", "load_samples"]


def load_samples(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an (N, C, H, W) float array written by ``sample``, with readable errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file {str(path)!r} does not exist")
    if path.suffix != ".npy":
        raise ValueError(f"samples must be a .npy file written by `sample`; got {str(path)!r}")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{str(path)!r} is not a plain numeric .npy array: {err}") from err
    if array.ndim != 4 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"samples must be a float array of shape (N, C, H, W); got {array.dtype} {array.shape}"
        )
    return torch.from_numpy(array.astype(np.float32))


def evaluate_samples_file(
    path: str | os.PathLike[str],
    *,
    prompts: str | os.PathLike[str] | None = None,
    classifier: str = "mnist-classifier",
) -> dict[str, Any]:
    """Metrics of the samples in ``path`` as a JSON-ready dict."""
    x = load_samples(path)
    out: dict[str, Any] = {
        "samples": str(path),
        "num_samples": int(x.shape[0]),
        "shape": list(x.shape[1:]),
        "pixel_mean": round(float(x.mean()), 4),
        "pixel_std": round(float(x.std()), 4),
        "fraction_outside_unit_range": round(float((x.abs() > 1).float().mean()), 4),
    }
    if prompts is not None:
        lines = Path(prompts).read_text().splitlines()
        if len(lines) != x.shape[0]:
            raise ValueError(
                f"{len(lines)} prompts for {x.shape[0]} samples; give one prompt per sample"
            )
        out["prompts"] = len(lines)
    if tuple(x.shape[1:]) == (1, 28, 28):
        out["digit_classifier"] = digit_quality(x, load_digit_classifier(classifier))
    return out
