"""Metrics of a file of samples, as ``python -m ddpm_tutorial evaluate`` prints them.

The array's shape and pixel statistics; FID against the held-out digits
(:func:`~ddpm_tutorial.metrics.fid.fid`, offline features by default); the digit classifier's
judgement (:func:`~ddpm_tutorial.metrics.classifier.digit_quality`); the attributes measured
from the samples; and, given one prompt per sample, the CLIP score
(:func:`~ddpm_tutorial.metrics.clip_score.clip_score`) and how often the classifier reads the
digit the prompt asked for (:func:`~ddpm_tutorial.metrics.classifier.prompted_digit_accuracy`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.captions import measure_attributes, prompt_digit
from .classifier import digit_quality, load_digit_classifier, prompted_digit_accuracy
from .clip_score import clip_score, load_clip
from .fid import fid, reference_statistics

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
    features: str = "mnist-features",
    clip: str = "mnist-clip",
) -> dict[str, Any]:
    """Metrics of the samples in ``path`` as a JSON-ready dict (``fid``, ``clip_score``, ...)."""
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
        if x.shape[0] < 2:
            raise ValueError("FID needs at least 2 samples (hundreds for a useful estimate)")
        out["fid"] = round(fid(x, features=features), 3)
        out["fid_reference"] = (
            f"{features} features; held-out MNIST digits ({reference_statistics(features)[2]})"
        )
        if prompts is not None:
            out["clip_score"] = round(float(clip_score(load_clip(clip), x, lines).mean()), 3)
        model = load_digit_classifier(classifier)
        out["digit_classifier"] = digit_quality(x, model)
        attrs = measure_attributes(x.clamp(-1, 1))
        out["attributes"] = {
            "mean_stroke_width": round(float(attrs.stroke_width.mean()), 4),
            "mean_slant": round(float(attrs.slant.mean()), 4),
        }
        if prompts is not None and all(prompt_digit(p) is not None for p in lines):
            out["prompted_digit"] = prompted_digit_accuracy(x, lines, model)
    return out
