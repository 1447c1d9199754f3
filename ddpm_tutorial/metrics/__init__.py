"""Metrics of samples: FID and its features, KID, precision/recall, the digit judge, CLIP score.

* :mod:`~ddpm_tutorial.metrics.fid`: the Fréchet distance and the feature extractors
  (``mnist-style-features`` by default);
* :mod:`~ddpm_tutorial.metrics.intervals`: n, the real-vs-real floor at n and a bootstrap
  interval beside every FID, and whether two scores rank or tie;
* :mod:`~ddpm_tutorial.metrics.kid`: the Kernel Inception Distance;
* :mod:`~ddpm_tutorial.metrics.precision_recall`: fidelity and diversity apart (improved
  precision and recall, density and coverage);
* :mod:`~ddpm_tutorial.metrics.memorisation`: how close samples come to the training digits;
* :mod:`~ddpm_tutorial.metrics.corruptions` and :mod:`~ddpm_tutorial.metrics.validation`:
  damage real digits in known ways, and check that a metric sees it (the sensitivity suite);
* :mod:`~ddpm_tutorial.metrics.features`: training the FID's feature networks;
* :mod:`~ddpm_tutorial.metrics.classifier`: the digit judge (``mnist-classifier``);
* :mod:`~ddpm_tutorial.metrics.clip_score`: the CLIP score;
* :mod:`~ddpm_tutorial.metrics.evaluate`: every metric of a file of samples (``evaluate``).
"""

from .classifier import digit_quality, load_digit_classifier, prompted_digit_accuracy
from .clip_score import clip_score, load_clip
from .evaluate import evaluate_samples_file, load_samples
from .fid import DEFAULT_FEATURES, fid, frechet_distance
from .intervals import Score, compare_scores, real_floor, score_fid
from .kid import kid
from .memorisation import memorisation, nearest_pairs
from .precision_recall import density_coverage, prdc, precision_recall
from .validation import sensitivity_table, validate_features

__all__ = [
    "DEFAULT_FEATURES",
    "Score",
    "clip_score",
    "compare_scores",
    "density_coverage",
    "digit_quality",
    "evaluate_samples_file",
    "fid",
    "frechet_distance",
    "kid",
    "load_clip",
    "load_digit_classifier",
    "load_samples",
    "memorisation",
    "nearest_pairs",
    "prdc",
    "precision_recall",
    "prompted_digit_accuracy",
    "real_floor",
    "score_fid",
    "sensitivity_table",
    "validate_features",
]
