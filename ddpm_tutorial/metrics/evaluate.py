"""Metrics of a file of samples, as ``python -m ddpm_tutorial evaluate`` prints them.

The array's shape and pixel statistics; FID against the held-out digits
(:func:`~ddpm_tutorial.metrics.fid.fid`, ``mnist-style-features`` by default) with its bootstrap
interval, n and the real-vs-real floor at n
(:func:`~ddpm_tutorial.metrics.intervals.score_fid`); KID
(:func:`~ddpm_tutorial.metrics.kid.kid`); fidelity and diversity apart, precision, recall,
density and coverage (:func:`~ddpm_tutorial.metrics.precision_recall.prdc`); the digit
classifier's judgement (:func:`~ddpm_tutorial.metrics.classifier.digit_quality`); the attributes
measured from the samples; and, given one prompt per sample, the CLIP score
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
from .fid import DEFAULT_FEATURES, extract_features, real_features, reference_statistics
from .intervals import score_fid
from .kid import kid
from .precision_recall import prdc

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
    features: str = DEFAULT_FEATURES,
    clip: str = "mnist-clip",
    resamples: int = 200,
    floor_draws: int = 10,
    k: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of the samples in ``path`` as a JSON-ready dict.

    Args:
        path: an (N, C, H, W) float ``.npy`` written by ``sample``.
        prompts: a text file with one prompt per sample (CLIP score, prompted digit).
        classifier: the digit classifier's checkpoint.
        features: the features of FID, KID and precision/recall.
        clip: the CLIP checkpoint of the CLIP score.
        resamples: bootstrap resamples of FID's interval.
        floor_draws: draws of the real-vs-real floor at n.
        k: the k of precision, recall, density and coverage.
        seed: seeds the bootstrap, the floor and KID's subsets.

    Returns:
        Always ``samples``, ``num_samples``, ``shape`` and pixel statistics. For digits
        (N, 1, 28, 28): ``fid`` (the point estimate) and ``fid_reference`` as before, and
        ``fid_score`` (value, interval, interval method, n, ``floor_at_n``), ``kid`` (mean and
        sd over 100 subsets of min(1,000, N/2) from each set), ``precision``, ``recall``,
        ``density``, ``coverage`` (with ``prdc_k``; left out with a note when N <= k),
        ``digit_classifier``, ``attributes``; with prompts, ``clip_score`` and
        ``prompted_digit``.
    """
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
        score = score_fid(
            x, features=features, resamples=resamples, floor_draws=floor_draws, seed=seed
        )
        out["fid"] = round(score.value, 3)
        out["fid_reference"] = (
            f"{features} features; held-out MNIST digits ({reference_statistics(features)[2]})"
        )
        out["fid_score"] = score.as_dict()
        reference = real_features(features, "test")
        sample_features = extract_features(x, features)
        n = int(x.shape[0])  # KID's subsets take half of it (at most 1,000): an informative sd
        out["kid"] = {
            k_: round(v, 4) if isinstance(v, float) else v
            for k_, v in kid(
                reference, sample_features, subset_size=min(1000, max(2, n // 2)), seed=seed
            ).items()
        }
        if x.shape[0] > k:
            out.update(
                {
                    k_: round(float(v), 4)
                    for k_, v in prdc(reference, sample_features, k=k).items()
                    if k_ != "k"
                }
            )
            out["prdc_k"] = k
        else:
            out["prdc_note"] = (
                f"precision, recall, density and coverage need more than k = {k} samples"
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
