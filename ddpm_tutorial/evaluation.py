"""Metrics of a file of samples, as ``python -m ddpm_tutorial evaluate`` prints them.

The array's shape and pixel statistics; FID against the held-out digits
(:func:`ddpm_tutorial.fid.fid`, offline features by default); the held-out digit classifier's
judgement (:func:`~ddpm_tutorial.digit_classifier.digit_quality`); the attributes measured
from the samples; and, given one prompt per sample, the CLIP score
(:func:`ddpm_tutorial.clip.clip_score`) and how often the classifier reads the digit the
prompt asked for (:func:`prompted_digit_accuracy`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .datasets.captions import measure_attributes, prompt_digit
from .digit_classifier import digit_quality, load_digit_classifier, predict_proba

__all__ = ["evaluate_samples_file", "load_samples", "prompted_digit_accuracy"]


def prompted_digit_accuracy(
    samples: torch.Tensor, prompts: Sequence[str], classifier: torch.nn.Module | None = None
) -> dict[str, Any]:
    """How often the held-out classifier labels a sample as the digit its prompt names.

    Args:
        samples: shape (N, 1, 28, 28) in [-1, 1].
        prompts: N prompts, each naming a digit (numeral or word; see
            :func:`~ddpm_tutorial.datasets.captions.prompt_digit`).
        classifier: default: the shipped ``mnist-classifier``.

    Returns:
        ``accuracy`` over all samples, ``per_digit`` accuracy (digits that occur), the
        ``num_samples``, and the mean classifier probability of the prompted digit.

    Raises:
        ValueError: if the counts differ or a prompt names no digit.
    """
    if len(prompts) != samples.shape[0]:
        raise ValueError(f"{len(prompts)} prompts for {samples.shape[0]} samples")
    digits = [prompt_digit(p) for p in prompts]
    missing = [p for p, d in zip(prompts, digits) if d is None]
    if missing:
        raise ValueError(f"prompt {missing[0]!r} names no digit (a numeral or a word like 'seven')")
    target = torch.tensor(digits)
    probs = predict_proba(classifier or load_digit_classifier(), samples.clamp(-1, 1))
    hit = probs.argmax(dim=1) == target
    per_digit = {
        str(d): round(float(hit[target == d].double().mean()), 4)
        for d in sorted(set(digits))  # type: ignore[type-var]
    }
    return {
        "num_samples": int(samples.shape[0]),
        "accuracy": round(float(hit.double().mean()), 4),
        "per_digit": per_digit,
        "mean_prob_of_prompted_digit": round(
            float(probs[torch.arange(len(target)), target].double().mean()), 4
        ),
    }


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
        from .clip import clip_score, load_clip
        from .fid import fid, reference_statistics

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
