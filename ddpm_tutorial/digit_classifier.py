"""A small MNIST digit classifier, used to judge whether samples look like digits.

It is trained only on the held-out split (``load_mnist("test")``: digits no diffusion model of
the book trains on) with random shifts, rotations and scalings as augmentation, and its
accuracy is measured on the training split, which it never sees. Applied to generated
samples it gives two numbers that track sample quality before the book introduces FID:

* the fraction of samples it classifies with confidence above 0.9 (digits that look like
  one digit), and
* the spread over the 10 classes (a model that draws only ones scores badly here): the
  fraction per class and the normalised entropy of that histogram (1 = uniform).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models.classifier import DigitClassifier, DigitClassifierConfig

__all__ = [
    "DigitClassifierConfig",
    "DigitClassifier",
    "augment_digits",
    "train_digit_classifier",
    "digit_quality",
    "load_digit_classifier",
    "run_classifier_training",
    "run_feature_training",
]


def augment_digits(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random rotation (+-12 deg), scale (0.9-1.1) and shift (+-2 px) of a batch in [-1, 1]."""
    B = x.shape[0]
    angle = (torch.rand(B, generator=generator) - 0.5) * 2 * math.radians(12)
    scale = 0.9 + 0.2 * torch.rand(B, generator=generator)
    shift = (torch.rand(B, 2, generator=generator) - 0.5) * 2 * (2 / 14)
    cos, sin = angle.cos() / scale, angle.sin() / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return (
        F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1
    )  # pad with background


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
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=g)
        loss = F.cross_entropy(
            model(augment_digits(images[idx], g)), labels[idx], label_smoothing=0.05
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
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
    """How digit-like a batch of samples is, judged by the held-out digit classifier.

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
    from .checkpoints import load_checkpoint

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
    """Train on the held-out split, measure on the training split, write ``out_dir/model.*``."""
    from .datasets.mnist import load_mnist

    train = load_mnist(
        "test", source=data_source, verbose=False
    )  # digits the diffusion models never see
    evals = load_mnist("train", source=data_source, verbose=False)
    start = time.perf_counter()
    model = train_digit_classifier(train.images, train.labels, steps=steps, seed=seed)
    wall = time.perf_counter() - start
    probs = predict_proba(model, evals.images)
    conf, pred = probs.max(1)
    metrics = {
        "accuracy_on_unseen_digits": round(float((pred == evals.labels).double().mean()), 4),
        "confident_fraction_real_digits": round(float((conf > 0.9).double().mean()), 4),
        "evaluated_on": f"{evals.source} {evals.split} split, {len(evals)} digits",
    }
    return _save_classifier(
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


def _save_classifier(
    model: nn.Module,
    out_dir: str | Path,
    name: str,
    *,
    train: Any,
    steps: int,
    seed: int,
    wall: float,
    metrics: dict[str, Any],
    command: str,
) -> dict[str, Any]:
    """Write a classifier trained by :func:`train_digit_classifier` with its model card."""
    from .checkpoints import save_checkpoint

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


def run_feature_training(
    out_dir: str | Path,
    *,
    steps: int = 1500,
    seed: int = 0,
    data_source: str = "auto",
    command: str = "",
) -> dict[str, Any]:
    """Train the FID feature network ``mnist-features`` and validate the FID it gives.

    The network is trained to classify the training split (the digits the diffusion models
    learn from, as Inception-v3 was trained on ImageNet); its accuracy is measured on the
    held-out split. The card then records the validation of :func:`ddpm_tutorial.fid.fid`:
    the FID of real training digits against the held-out reference (near zero), and of
    blurred, noised and pixel-shuffled digits at rising strengths (rising FID).
    """
    from .datasets.mnist import load_mnist
    from .fid import fid_validation
    from .models.feature_net import FeatureNet, FeatureNetConfig

    train = load_mnist("train", source=data_source, verbose=False)
    held_out = load_mnist("test", source=data_source, verbose=False)
    start = time.perf_counter()
    model = train_digit_classifier(
        train.images, train.labels, steps=steps, seed=seed, model=FeatureNet(FeatureNetConfig())
    )
    wall = time.perf_counter() - start
    pred = predict_proba(model, held_out.images).argmax(1)

    @torch.no_grad()
    def extract(x: torch.Tensor) -> torch.Tensor:
        return model.features(x.clamp(-1, 1))

    metrics = {
        "accuracy_on_held_out_digits": round(float((pred == held_out.labels).double().mean()), 4),
        "evaluated_on": f"{held_out.source} {held_out.split} split, {len(held_out)} digits",
        "fid_validation": fid_validation(extract, train.images, held_out.images, seed=seed),
    }
    return _save_classifier(
        model,
        out_dir,
        "mnist-features",
        train=train,
        steps=steps,
        seed=seed,
        wall=wall,
        metrics=metrics,
        command=command,
    )
