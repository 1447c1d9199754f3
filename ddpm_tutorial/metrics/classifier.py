"""The digit judge: a small MNIST classifier that says whether samples look like digits.

It is trained on the training split only (``load_mnist("train")``, the digits the diffusion
models learn from) with random shifts, rotations and scalings as augmentation, and its accuracy
is measured on the held-out split (``load_mnist("test")``), which it never sees. So when a
chapter scores real held-out digits as the "real" row beside the samples, the judge has not
seen them either. Applied to generated samples it gives two numbers that track sample quality
before the book introduces FID:

* the fraction of samples it classifies with confidence above 0.9 (digits that look like
  one digit), and
* the spread over the 10 classes (a model that draws only ones scores badly here): the
  fraction per class and the normalised entropy of that histogram (1 = uniform).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.augment import augment_digits
from ..data.captions import prompt_digit
from ..data.mnist import MNISTData, load_mnist
from ..models.classifier import DigitClassifier, DigitClassifierConfig
from ..training.fit import fit

__all__ = [
    "digit_quality",
    "load_digit_classifier",
    "predict_proba",
    "prompted_digit_accuracy",
    "run_classifier_training",
    "save_classifier",
    "train_digit_classifier",
]


def train_digit_classifier(
    images: Tensor,
    labels: Tensor,
    *,
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    config: DigitClassifierConfig | None = None,
    model: nn.Module | None = None,
) -> nn.Module:
    """Train a digit classifier with augmentation and a one-cycle learning-rate schedule.

    Args:
        images, labels: (N, 1, 28, 28) in [-1, 1] and (N,) int64 digits.
        model: the network to train (default: a :class:`DigitClassifier` built from
            ``config``); any module mapping (B, 1, 28, 28) to (B, 10) logits works, such as
            the :class:`~ddpm_tutorial.models.FeatureNet` behind the offline FID.
    """
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = model if model is not None else DigitClassifier(config)

    def step_loss(step: int) -> Tensor:
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=g)
        return F.cross_entropy(
            model(augment_digits(images[idx], g)), labels[idx], label_smoothing=0.05
        )

    fit(model, step_loss, steps=steps, lr=lr, weight_decay=1e-4, warmup=0.3)
    return model.eval()


@torch.no_grad()
def predict_proba(model: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """Class probabilities (N, 10) for images (N, 1, 28, 28) in [-1, 1]."""
    model.eval()
    device = next(model.parameters()).device
    out = [
        F.softmax(model(images[i : i + batch_size].to(device).float()), dim=1).cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(out)


def digit_quality(
    images: Tensor, classifier: nn.Module | None = None, threshold: float = 0.9
) -> dict[str, Any]:
    """How digit-like a batch of samples is, judged by the digit classifier.

    Args:
        images: samples, shape (N, 1, 28, 28), in [-1, 1] (values outside are clipped here).
        classifier: default: the shipped ``mnist-classifier``.
        threshold: the confidence above which a sample counts as a recognisable digit.

    Returns:
        ``confident_fraction`` (share with max probability > threshold), ``class_fractions``
        (10 values), ``class_entropy`` (entropy of the predicted-class histogram divided by
        log 10: 1 means all digits equally often), ``mean_confidence`` and ``num_samples``.
    """
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(
            f"digit_quality expects samples of shape (N, 1, 28, 28); got {tuple(images.shape)}"
        )
    classifier = classifier or load_digit_classifier()
    probs = predict_proba(classifier, images.clamp(-1, 1))
    conf, pred = probs.max(dim=1)
    hist = torch.bincount(pred, minlength=10).double() / len(pred)
    nz = hist[hist > 0]
    entropy = float(-(nz * nz.log()).sum() / math.log(10))
    return {
        "num_samples": int(images.shape[0]),
        "confident_fraction": round(float((conf > threshold).double().mean()), 4),
        "mean_confidence": round(float(conf.double().mean()), 4),
        "class_fractions": [round(float(v), 4) for v in hist],
        "class_entropy": round(entropy, 4),
    }


def load_digit_classifier(
    name: str = "mnist-classifier", device: torch.device | str = "cpu"
) -> nn.Module:
    """Load the shipped classifier (or any checkpoint of kind ``digit-classifier``)."""
    ckpt = load_checkpoint(name, device=device)
    if not isinstance(ckpt.model, DigitClassifier):
        raise ValueError(f"{name!r} is not a digit classifier checkpoint")
    return ckpt.model


def run_classifier_training(
    out_dir: str | Path,
    *,
    steps: int = 3000,
    seed: int = 0,
    data_source: str = "auto",
    command: str = "",
) -> dict[str, Any]:
    """Train ``mnist-classifier`` on the training split, measure it on the held-out split.

    The held-out digits are the "real" rows of the chapters that score samples with this
    judge, so it must never see them: it trains on ``load_mnist("train")`` only, and its
    card records its accuracy and confident fraction on ``load_mnist("test")``. Writes
    ``out_dir/model.safetensors`` and its card.
    """
    train = load_mnist("train", source=data_source, verbose=False)
    held_out = load_mnist("test", source=data_source, verbose=False)  # never trained on
    start = time.perf_counter()
    model = train_digit_classifier(train.images, train.labels, steps=steps, seed=seed)
    wall = time.perf_counter() - start
    probs = predict_proba(model, held_out.images)
    conf, pred = probs.max(1)
    metrics = {
        "accuracy_on_held_out_digits": round(float((pred == held_out.labels).double().mean()), 4),
        "confident_fraction_real_digits": round(float((conf > 0.9).double().mean()), 4),
        "evaluated_on": f"{held_out.source} {held_out.split} split, {len(held_out)} digits",
    }
    return save_classifier(
        model,
        out_dir,
        "mnist-classifier",
        train=train,
        steps=steps,
        seed=seed,
        wall=wall,
        metrics=metrics,
        command=command,
    )


def save_classifier(
    model: nn.Module,
    out_dir: str | Path,
    name: str,
    *,
    train: MNISTData,
    steps: int,
    seed: int,
    wall: float,
    metrics: dict[str, Any],
    command: str,
) -> dict[str, Any]:
    """Write a classifier trained by :func:`train_digit_classifier` with its model card."""
    card = {
        "data": {
            "dataset": "mnist",
            "source": train.source,
            "split": train.split,
            "num_images": len(train),
        },
        "training": {
            "steps": steps,
            "batch_size": 128,
            "seed": seed,
            "wall_time_s": round(wall, 1),
            "augmentation": "rotation +-12 deg, scale 0.9-1.1, shift +-2 px",
        },
        "metrics": metrics,
        "command": command,
    }
    return save_checkpoint(
        model, Path(out_dir) / "model.safetensors", schedule=None, name=name, card=card
    )


def prompted_digit_accuracy(
    samples: torch.Tensor, prompts: Sequence[str], classifier: torch.nn.Module | None = None
) -> dict[str, Any]:
    """How often the digit classifier labels a sample as the digit its prompt names.

    Args:
        samples: shape (N, 1, 28, 28) in [-1, 1].
        prompts: N prompts, each naming a digit (numeral or word; see
            :func:`~ddpm_tutorial.data.captions.prompt_digit`).
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
