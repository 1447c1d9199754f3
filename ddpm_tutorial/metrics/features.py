"""Training the FID's feature networks, then checking that their FID sees what it should.

As Inception-v3 was trained on ImageNet, the book's feature networks are trained to classify
the digits the diffusion models learn from (the training split only), with the digit
classifier's recipe (:func:`~ddpm_tutorial.metrics.classifier.train_digit_classifier`, which
trains through :func:`~ddpm_tutorial.training.fit.fit`). ``python -m ddpm_tutorial
train-features`` runs :func:`run_feature_training` for one of two kinds:

* ``style-feature-net`` (the default, published as ``mnist-style-features``): a
  :class:`~ddpm_tutorial.models.StyleFeatureNet`, whose block scales are then fitted on the
  un-augmented training digits (:func:`fit_block_scales`); the book's FID features;
* ``feature-net`` (the first recipe, ``mnist-features``): a
  :class:`~ddpm_tutorial.models.FeatureNet` read at its 64-d penultimate layer.

Either way the card records the held-out accuracy and the sensitivity suite
(:func:`~ddpm_tutorial.metrics.validation.sensitivity_suite`) of the FID it gives.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data.mnist import load_mnist
from ..models.feature_net import FeatureNet, FeatureNetConfig, StyleFeatureNet
from .classifier import predict_proba, save_classifier, train_digit_classifier
from .validation import fid_validation, sensitivity_suite

__all__ = ["FEATURE_KINDS", "SUITE_SETTINGS", "fit_block_scales", "run_feature_training"]

#: kind -> the name its checkpoint is published under
FEATURE_KINDS = {"style-feature-net": "mnist-style-features", "feature-net": "mnist-features"}
#: the sensitivity suite that :func:`run_feature_training` records in the card (read at call
#: time: a test that trains for two steps may patch in a smaller suite); ``families`` None is
#: every family of :data:`~ddpm_tutorial.metrics.corruptions.LADDERS`
SUITE_SETTINGS: dict[str, Any] = {"n": 1000, "repeats": 3, "floor_draws": 25, "families": None}


@torch.no_grad()
def fit_block_scales(
    net: StyleFeatureNet, images: Tensor, batch_size: int = 500
) -> StyleFeatureNet:
    r"""Set each block's scale so that its mean per-dimension variance over ``images`` is 1.

    Block j gets :math:`s_j = 1/\sqrt{\bar v_j}`, with :math:`\bar v_j` the mean over the
    block's dimensions of their variance over the images. One number per block keeps the
    geometry inside a block and gives the blocks comparable weight in FID: the raw stroke
    block varies far less than the class embedding and would otherwise be drowned out.

    Args:
        net: the network; its ``block_scale`` buffer is overwritten.
        images: (N, 1, 28, 28) in [-1, 1], N >= 2: the un-augmented training digits.
        batch_size: images per forward pass.

    Returns:
        ``net``, in eval mode.
    """
    if images.ndim != 4 or images.shape[0] < 2:
        raise ValueError(
            f"fit the block scales on at least 2 images (N, 1, 28, 28); got {tuple(images.shape)}"
        )
    net.eval()
    parts = [
        net.unscaled_blocks(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
    ]
    for j, name in enumerate(net.blocks):
        var = float(torch.cat([p[j] for p in parts]).double().var(dim=0).mean())
        if not var > 0:
            raise ValueError(f"block {name!r} is constant over the images; it cannot be scaled")
        net.block_scale[j] = 1 / math.sqrt(var)
    return net


def run_feature_training(
    out_dir: str | Path,
    *,
    steps: int = 1000,
    seed: int = 0,
    data_source: str = "auto",
    command: str = "",
    kind: str = "style-feature-net",
) -> dict[str, Any]:
    """Train a feature network on the training split, validate its FID, write its checkpoint.

    Args:
        out_dir: the run folder; ``model.safetensors`` and its card are written there.
        steps: optimizer steps of the classifier recipe.
        seed: seeds the initial weights, the batches and the augmentation.
        data_source: the MNIST source (see :func:`~ddpm_tutorial.data.mnist.load_mnist`).
        command: the command line, for the card.
        kind: ``"style-feature-net"`` or ``"feature-net"`` (see the module docstring).

    The sensitivity suite's sizes are :data:`SUITE_SETTINGS` (n is capped at half the
    training split).

    Returns:
        The model card. Its metrics: ``accuracy_on_held_out_digits``, ``evaluated_on``,
        ``sensitivity`` (the suite's report; :func:`~ddpm_tutorial.metrics.validation.
        sensitivity_table` prints it), ``block_scales`` (style kind) or ``fid_validation``
        (the first kind's check).
    """
    if kind not in FEATURE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FEATURE_KINDS)}; got {kind!r}")
    train = load_mnist("train", source=data_source, verbose=False)
    held_out = load_mnist("test", source=data_source, verbose=False)
    torch.manual_seed(seed)  # the initial weights
    model: FeatureNet | StyleFeatureNet = (
        StyleFeatureNet(FeatureNetConfig()) if kind == "style-feature-net" else FeatureNet()
    )
    start = time.perf_counter()
    train_digit_classifier(train.images, train.labels, steps=steps, seed=seed, model=model)
    if isinstance(model, StyleFeatureNet):
        fit_block_scales(model, train.images)
    wall = time.perf_counter() - start
    pred = predict_proba(model, held_out.images).argmax(1)

    @torch.no_grad()
    def extract(x: Tensor) -> Tensor:
        return model.features(x.clamp(-1, 1))

    metrics: dict[str, Any] = {
        "accuracy_on_held_out_digits": round(float((pred == held_out.labels).double().mean()), 4),
        "evaluated_on": f"{held_out.source} {held_out.split} split, {len(held_out)} digits",
    }
    if isinstance(model, StyleFeatureNet):
        metrics["feature_dim"] = model.feature_dim
        metrics["block_scales"] = {
            name: round(float(s), 4) for name, s in zip(model.blocks, model.block_scale)
        }
    else:
        metrics["fid_validation"] = fid_validation(
            extract, train.images, held_out.images, seed=seed
        )
    start_suite = time.perf_counter()
    suite = dict(SUITE_SETTINGS)
    metrics["sensitivity"] = sensitivity_suite(
        extract,
        (train.images, train.labels),
        held_out.images,
        n=min(int(suite["n"]), len(train) // 2),
        families=suite["families"],
        floor_draws=int(suite["floor_draws"]),
        repeats=int(suite["repeats"]),
        seed=seed,
    )
    metrics["sensitivity"]["wall_time_s"] = round(time.perf_counter() - start_suite, 1)
    return save_classifier(
        model,
        out_dir,
        FEATURE_KINDS[kind],
        train=train,
        steps=steps,
        seed=seed,
        wall=wall,
        metrics=metrics,
        command=command,
    )
