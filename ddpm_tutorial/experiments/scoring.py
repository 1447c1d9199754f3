r"""How every experiment scores a set of samples: the measures, their intervals, n and floors.

All experiments sample from prompts taken from the captions of the held-out digits (as the
papers take theirs from MS-COCO's validation captions; :func:`heldout_pairs`) and measure each
set of samples the same way (:func:`score_samples`). Every measure states its n, what real
digits score at that n, and a 95% interval:

===========================  ===============================================================
``fid``                      :func:`~ddpm_tutorial.metrics.intervals.score_fid`: the basic
                             bootstrap interval and the real-vs-real floor at n
``kid``                      mean MMD² over 100 subsets of m = min(1,000, n/2) from each set;
                             the interval is that mean +- 1.96 sd of the subset estimates
                             (each from m samples: wider than the mean's own interval, so
                             conservative), and the floor is the KID of n real training
                             digits, mean and sd over draws
``precision``, ``density``   fidelity: a percentile bootstrap over the samples (the points
                             they average over), the real k-NN balls held fixed
``recall``, ``coverage``     diversity: a percentile bootstrap over the held-out digits (the
                             points they average over), the k-NN balls held fixed
``clip_score``               mean over samples :math:`\pm 1.96` standard errors
``prompted_digit_accuracy``  the Wilson score interval (Wilson 1927) of hits out of n
``confident_fraction``       the same, for the share the digit judge reads with confidence
                             above 0.9 (in ``digit_classifier``, prompted or not)
===========================  ===============================================================

Beside precision, recall, density and coverage, ``real_at_n`` gives what n real *training*
digits score against the same held-out reference (mean and sd over draws): the value a model
indistinguishable from real digits would reach. Beside the CLIP score and the accuracy,
``real`` gives what the held-out digits themselves score with the same prompts, when the
prompts are their captions. The Wilson interval for k hits out of n, with
:math:`\hat p = k/n` and z = 1.96, is

.. math::

    \frac{\hat p + \frac{z^2}{2n} \pm z \sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}
         {1 + \frac{z^2}{n}}.

``python -m ddpm_tutorial experiment ...`` writes the JSON that :func:`load_experiment`
reads back in the chapters.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..checkpoints import checkpoint_dirs
from ..metrics.classifier import digit_quality, load_digit_classifier, prompted_digit_accuracy
from ..metrics.clip_score import clip_score, load_clip
from ..metrics.fid import DEFAULT_FEATURES, extract_features, real_features
from ..metrics.intervals import score_fid
from ..metrics.kid import kid
from ..metrics.memorisation import memorisation
from ..metrics.precision_recall import knn_radii
from ..models.clip import CLIP
from ..systems.clip import captioned_digits

__all__ = [
    "Judges",
    "bootstrap_mean",
    "heldout_pairs",
    "heldout_prompts",
    "load_experiment",
    "load_judges",
    "mean_interval",
    "prdc_intervals",
    "real_references",
    "score_samples",
    "wilson_interval",
]

#: the level of every interval here
LEVEL = 0.95
_Z = 1.959964  # the standard normal's 97.5% quantile


def load_experiment(name: str) -> dict[str, Any]:
    """The JSON an ``experiment`` command wrote to ``data/experiments/NAME.json``.

    Looked up beside each checkpoint folder (see
    :func:`~ddpm_tutorial.checkpoints.checkpoint_dirs`), so it is found in a source checkout,
    from a chapter's folder and in Colab (``$DDPM_TUTORIAL_DATA``).
    """
    tried = [d.parent / "experiments" / f"{name}.json" for d in checkpoint_dirs()]
    for path in tried:
        if path.is_file():
            return json.loads(path.read_text())
    raise FileNotFoundError(
        f"no experiment {name!r}; looked for {', '.join(str(p) for p in tried[:3])}; run "
        f"`python -m ddpm_tutorial experiment {name} ... --out data/experiments/{name}.json`"
    )


def heldout_pairs(num_prompts: int, seed: int = 0) -> tuple[Tensor, list[str]]:
    """``num_prompts`` held-out digits (N, 1, 28, 28) and one caption of each, a fixed subset.

    The captions are the prompts of every experiment; the digits are what real images score
    with them (the ``real`` value beside the CLIP score and the prompted-digit accuracy).
    """
    images, _, captions, _ = captioned_digits("test", captions_per_image=1, seed=0)
    if not 1 <= num_prompts <= len(captions):
        raise ValueError(f"num_prompts must lie in [1, {len(captions)}]; got {num_prompts}")
    order = torch.randperm(len(captions), generator=torch.Generator().manual_seed(seed))
    pick = order[:num_prompts]
    return images[pick], [captions[i][0] for i in pick.tolist()]


def heldout_prompts(num_prompts: int, seed: int = 0) -> list[str]:
    """``num_prompts`` captions of held-out digits (one per digit, a fixed random subset)."""
    return heldout_pairs(num_prompts, seed)[1]


# ------------------------------------------------------------------------------ intervals
def wilson_interval(hits: int, n: int, z: float = _Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion: k = ``hits`` out of ``n`` (module equation)."""
    if n < 1 or not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n and n >= 1; got hits={hits}, n={n}")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def mean_interval(values: Tensor) -> dict[str, Any]:
    """Mean of per-sample values (N,) with mean +- 1.96 standard errors; ``n``, ``sd``."""
    if values.ndim != 1 or values.shape[0] < 2:
        raise ValueError(f"need (N,) values with N >= 2; got shape {tuple(values.shape)}")
    v = values.double()
    mean, sd = float(v.mean()), float(v.std())
    half = _Z * sd / math.sqrt(v.shape[0])
    return {
        "value": round(mean, 4),
        "interval": [round(mean - half, 4), round(mean + half, 4)],
        "interval_method": "mean +- 1.96 standard errors over samples",
        "sd": round(sd, 4),
        "n": int(v.shape[0]),
    }


def _percentile(boot: Tensor) -> list[float]:
    lo, hi = (float(torch.quantile(boot, q)) for q in ((1 - LEVEL) / 2, (1 + LEVEL) / 2))
    return [round(lo, 4), round(hi, 4)]


def bootstrap_mean(per_point: Tensor, resamples: int, g: torch.Generator) -> list[float]:
    """Percentile interval of the mean of ``per_point`` (P,) over ``resamples`` resamples."""
    P = per_point.shape[0]
    idx = torch.randint(0, P, (resamples, P), generator=g)
    return _percentile(per_point.double()[idx].mean(1))


def _prdc_per_point(real: Tensor, fake: Tensor, k: int) -> dict[str, Tensor]:
    """Per-point terms whose means are precision, recall, density and coverage.

    Precision and density have one term per sample (M,), recall and coverage one per real
    point (N,); closed k-NN balls, as :mod:`~ddpm_tutorial.metrics.precision_recall`.
    """
    real_r, fake_r = knn_radii(real, k), knn_radii(fake, k)
    d = torch.cdist(real.double(), fake.double())  # (N, M)
    in_real_ball = d <= real_r[:, None]  # sample j lies in real ball i
    in_fake_ball = d <= fake_r[None, :]  # real point i lies in sample ball j
    return {
        "precision": in_real_ball.any(0).double(),
        "recall": in_fake_ball.any(1).double(),
        "density": in_real_ball.sum(0).double() / k,
        "coverage": in_real_ball.any(1).double(),
    }


def prdc_intervals(
    real: Tensor, fake: Tensor, *, k: int = 5, resamples: int = 200, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Precision, recall, density and coverage, each with a percentile bootstrap interval.

    The same values as :func:`~ddpm_tutorial.metrics.precision_recall.prdc` (closed k-NN
    balls). Each metric is a mean over one set's points: precision and density over the
    samples, recall and coverage over the real points; the bootstrap resamples that set with
    replacement and holds every k-NN radius fixed.

    Args:
        real: (N, D) features of the real (held-out) digits.
        fake: (M, D) features of the samples.
        k: the k of the k-NN balls.
        resamples: bootstrap resamples.
        seed: seeds the resampling.

    Returns:
        One dict per metric: ``value``, ``interval``, ``interval_method``, ``n`` (the samples).
    """
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, values in _prdc_per_point(real, fake, k).items():
        over = "samples" if name in ("precision", "density") else "held-out digits"
        out[name] = {
            "value": round(float(values.mean()), 4),
            "interval": bootstrap_mean(values, resamples, g),
            "interval_method": f"percentile bootstrap over the {over}, k-NN radii fixed",
            "n": int(fake.shape[0]),
        }
    return out


def _kid(reference: Tensor, fake: Tensor, seed: int) -> dict[str, Any]:
    """KID with subsets of m = min(1,000, n/2, the reference's size) from each set."""
    m = min(1000, max(2, fake.shape[0] // 2), reference.shape[0])
    return kid(reference, fake, subset_size=m, seed=seed)


# ------------------------------------------------------------------------------ references
@functools.lru_cache(maxsize=16)
def real_references(
    n: int, features: str = DEFAULT_FEATURES, k: int = 5, draws: int = 5, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """What n real training digits score against the held-out digits: the floor at n.

    For precision, recall, density, coverage and KID: the mean and sd over ``draws`` random
    draws of n training digits (without replacement; every draw scored like samples). Cached.

    Returns:
        ``{metric: {"mean", "sd", "draws", "n"}}``.
    """
    pool = real_features(features, "train")
    reference = real_features(features, "test")
    if not k < n <= pool.shape[0]:
        raise ValueError(f"n must lie in ({k}, {pool.shape[0]}] (the training split); got {n}")
    g = torch.Generator().manual_seed(seed)
    values: dict[str, list[float]] = {}
    for _ in range(draws):
        pick = pool[torch.randperm(pool.shape[0], generator=g)[:n]]
        per_point = _prdc_per_point(reference, pick, k)
        for name, v in [
            *((m, float(t.mean())) for m, t in per_point.items()),
            ("kid", _kid(reference, pick, seed)["kid"]),
        ]:
            values.setdefault(name, []).append(v)
    return {
        name: {
            "mean": round(float(torch.tensor(v).mean()), 6),
            "sd": round(float(torch.tensor(v).std()), 6),
            "draws": draws,
            "n": n,
        }
        for name, v in values.items()
    }


def _kid_row(reference: Tensor, fake: Tensor, seed: int, floor: Any) -> dict[str, Any]:
    """KID, mean +- 1.96 sd of its subset estimates as the interval, and the floor at n."""
    result = _kid(reference, fake, seed)
    mean, sd = result["kid"], result["sd"]
    return {
        "value": round(mean, 6),
        "interval": [round(mean - _Z * sd, 6), round(mean + _Z * sd, 6)],
        "interval_method": f"mean +- 1.96 sd of {result['num_subsets']} subset estimates, "
        f"m = {result['subset_size']} from each set",
        "sd": round(sd, 6),
        "n": int(fake.shape[0]),
        "floor_at_n": floor,
    }


@dataclass(frozen=True)
class Judges:
    """The networks that score samples against prompts: the CLIP and the digit classifier."""

    clip: CLIP
    classifier: nn.Module


def load_judges() -> Judges:
    """``mnist-clip`` and ``mnist-classifier`` (the training-split judge), loaded once."""
    return Judges(load_clip(), load_digit_classifier())


def _prompt_measures(
    images: Tensor, prompts: Sequence[str], judges: Judges
) -> tuple[dict[str, Any], dict[str, Any]]:
    """CLIP score and prompted-digit accuracy of images against prompts, with intervals."""
    clip = mean_interval(clip_score(judges.clip, images, prompts))
    acc = prompted_digit_accuracy(images, prompts, judges.classifier)
    n = acc["num_samples"]
    hits = round(acc["accuracy"] * n)
    low, high = wilson_interval(hits, n)
    accuracy = {
        "value": acc["accuracy"],
        "interval": [round(low, 4), round(high, 4)],
        "interval_method": "Wilson score interval",
        "n": n,
        "hits": hits,
        "per_digit": acc["per_digit"],
    }
    return clip, accuracy


def _judged(images: Tensor, real: Tensor, judges: Judges) -> dict[str, Any]:
    """The classifier's judgement of any samples, prompted or not (the digit judge)."""
    quality = digit_quality(images, judges.classifier)
    n = quality["num_samples"]
    hits = round(quality["confident_fraction"] * n)
    low, high = wilson_interval(hits, n)
    return {
        "confident_fraction": {
            "value": quality["confident_fraction"],
            "interval": [round(low, 4), round(high, 4)],
            "interval_method": "Wilson score interval",
            "n": n,
            "real": digit_quality(real, judges.classifier)["confident_fraction"],
        },
        "class_fractions": quality["class_fractions"],
        "class_entropy": quality["class_entropy"],
    }


def _pixels(samples: Tensor) -> dict[str, float]:
    """How far the raw samples stray outside [-1, 1] (before any metric clips them)."""
    a = samples.abs()
    return {
        "mean": round(float(samples.mean()), 4),
        "std": round(float(samples.std()), 4),
        "outside_unit_range": round(float((a > 1).float().mean()), 4),
        "beyond_1_5": round(float((a > 1.5).float().mean()), 4),
    }


def score_samples(
    samples: Tensor,
    prompts: Sequence[str] | None = None,
    *,
    real: Tensor | None = None,
    judges: Judges | None = None,
    features: str = DEFAULT_FEATURES,
    k: int = 5,
    resamples: int = 200,
    seed: int = 0,
    memorise: bool = False,
    extra_fid_features: Sequence[str] = (),
    clip: nn.Module | None = None,
) -> dict[str, Any]:
    """Every measure of one set of samples, each with its n, its floor at n and an interval.

    Args:
        samples: (N, 1, 28, 28) in [-1, 1] (clipped first by every metric).
        prompts: N prompts, one per sample (the CLIP score and the prompted-digit accuracy);
            None for an unconditional model.
        real: the (N, 1, 28, 28) held-out digits whose captions the prompts are (see
            :func:`heldout_pairs`): their own CLIP score and accuracy appear as ``real``.
        judges: the CLIP and the classifier (default: :func:`load_judges`).
        features: the features of FID, KID and precision/recall.
        k: the k of precision, recall, density and coverage.
        resamples: bootstrap resamples of every bootstrap interval.
        seed: seeds the bootstraps, the floors and KID's subsets.
        memorise: also measure how close the samples come to the training digits
            (:func:`~ddpm_tutorial.metrics.memorisation.memorisation`).
        extra_fid_features: further FID feature networks to report (``"mnist-features"``, the
            book's first FID), each as ``fid_<name>``.
        clip: a CLIP to use in place of the judges' (kept for the chapters' live cells).

    Returns:
        ``n``, ``pixels`` (mean, sd, and the shares of raw pixels beyond 1 and 1.5 in absolute
        value), ``fid`` (:meth:`~ddpm_tutorial.metrics.intervals.Score.as_dict`), ``kid``,
        ``precision``, ``recall``, ``density``, ``coverage`` (with ``real_at_n``),
        ``prdc_k``, ``digit_classifier`` (the share read with confidence > 0.9, with
        ``real`` for held-out digits, and the class fractions); with prompts ``clip_score`` and ``prompted_digit_accuracy`` (and ``real``);
        with ``memorise``, ``memorisation``.
    """
    if samples.ndim != 4 or tuple(samples.shape[1:]) != (1, 28, 28):
        raise ValueError(f"samples must have shape (N, 1, 28, 28); got {tuple(samples.shape)}")
    n = int(samples.shape[0])
    if n <= k:
        raise ValueError(f"score_samples needs more than k = {k} samples; got {n}")
    if prompts is not None and len(prompts) != n:
        raise ValueError(f"{len(prompts)} prompts for {n} samples; give one per sample")
    x = samples.clamp(-1, 1)
    out: dict[str, Any] = {
        "n": n,
        "pixels": _pixels(samples),
        "fid": score_fid(x, features=features, resamples=resamples, seed=seed).as_dict(),
    }
    for name in extra_fid_features:
        out[f"fid_{name}"] = score_fid(x, features=name, resamples=resamples, seed=seed).as_dict()
    reference = real_features(features, "test")
    fake = extract_features(x, features)
    pool = real_features(features, "train").shape[0]
    floors = real_references(n, features, k, seed=seed) if k < n <= pool else None
    out["kid"] = _kid_row(reference, fake, seed, floors["kid"] if floors else None)
    for name, row in prdc_intervals(reference, fake, k=k, resamples=resamples, seed=seed).items():
        out[name] = {**row, "real_at_n": floors[name] if floors else None}
    out["prdc_k"] = k
    judges = judges or load_judges()
    if clip is not None:
        judges = Judges(clip, judges.classifier)  # type: ignore[arg-type]
    held_out = real if real is not None else heldout_pairs(min(n, reference.shape[0]))[0]
    out["digit_classifier"] = _judged(x, held_out, judges)
    if prompts is not None:
        out["clip_score"], out["prompted_digit_accuracy"] = _prompt_measures(x, prompts, judges)
        if real is not None:
            real_clip, real_acc = _prompt_measures(real, prompts, judges)
            out["clip_score"]["real"] = real_clip["value"]
            out["prompted_digit_accuracy"]["real"] = real_acc["value"]
    if memorise:
        out["memorisation"] = memorisation(x, features=features).as_dict()
    return out
