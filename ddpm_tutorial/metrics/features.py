"""The FID's feature network, ``mnist-features``: trained as a digit classifier, then validated.

As Inception-v3 was trained on ImageNet, the network is trained to classify the digits the
diffusion models learn from (the training split); its penultimate layer is FID's feature space
(:func:`~ddpm_tutorial.metrics.fid.mnist_feature_extractor`). ``python -m ddpm_tutorial
train-features`` runs :func:`run_feature_training`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..data.mnist import load_mnist
from ..models.feature_net import FeatureNet, FeatureNetConfig
from .classifier import predict_proba, save_classifier, train_digit_classifier
from .validation import fid_validation

__all__ = ["run_feature_training"]


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
    held-out split. The card then records the validation of :func:`ddpm_tutorial.metrics.fid.fid`:
    the FID of real training digits against the held-out reference (near zero), and of
    blurred, noised and pixel-shuffled digits at rising strengths (rising FID;
    :func:`~ddpm_tutorial.metrics.validation.fid_validation`).
    """
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
    return save_classifier(
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
