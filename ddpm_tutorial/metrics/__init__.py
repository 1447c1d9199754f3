"""Metrics of samples: FID and its features, the digit classifier that judges them, CLIP score.

* :mod:`~ddpm_tutorial.metrics.fid`: the Fréchet distance and the feature extractors;
* :mod:`~ddpm_tutorial.metrics.validation`: the check that an FID rises as digits get worse;
* :mod:`~ddpm_tutorial.metrics.features`: training ``mnist-features``, the FID's network;
* :mod:`~ddpm_tutorial.metrics.classifier`: the digit judge (``mnist-classifier``);
* :mod:`~ddpm_tutorial.metrics.clip_score`: the CLIP score;
* :mod:`~ddpm_tutorial.metrics.evaluate`: every metric of a file of samples (``evaluate``).
"""

from .classifier import digit_quality, load_digit_classifier, prompted_digit_accuracy
from .clip_score import clip_score, load_clip
from .evaluate import evaluate_samples_file, load_samples
from .fid import fid, frechet_distance

__all__ = [
    "clip_score",
    "digit_quality",
    "evaluate_samples_file",
    "fid",
    "frechet_distance",
    "load_clip",
    "load_digit_classifier",
    "load_samples",
    "prompted_digit_accuracy",
]
