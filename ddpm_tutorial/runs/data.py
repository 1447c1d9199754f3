"""The data a training run needs: images, their condition, and a description for the card.

:func:`load_training_data` turns a :class:`~ddpm_tutorial.runs.config.TrainConfig` into the
tensors :func:`~ddpm_tutorial.training.loop.train_denoiser` takes: MNIST digits (at the config's
resolution, or as latents of its autoencoder), a folder of the reader's own images
(``dataset="folder:PATH"``, see :mod:`~ddpm_tutorial.data.folder`) or 2-D toy points, and the
condition each conditioning needs: labels, captions written from the pixels, CLIP image
embeddings, or the low-resolution digit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..checkpoints import load_checkpoint
from ..data.captions import CaptionThresholds, caption_split
from ..data.folder import load_image_folder
from ..data.mnist import load_mnist
from ..data.toy2d import make_toy_data
from ..metrics.clip_score import image_embeddings, load_clip
from ..models.autoencoder import Autoencoder
from ..systems.latent_diffusion import encode_latents
from ..systems.super_resolution import downsample
from ..systems.unclip import scale_embeddings
from ..training.loop import index_condition
from .config import MNIST_SIZE, TrainConfig, folder_of

__all__ = [
    "caption_training_digits",
    "clip_image_condition",
    "encode_captions",
    "folder_training_data",
    "load_training_data",
    "subset_indices",
    "to_latents",
]


def load_training_data(
    config: TrainConfig, split: str = "train"
) -> tuple[Tensor, Tensor | list[str] | None, dict[str, Any]]:
    """The data a config trains on: ``(examples, condition or None, description)``.

    The condition is the (N,) labels for class conditioning and a list of N captions for text
    conditioning; then each digit appears ``config.captions_per_image`` times in ``examples``,
    once with each of its captions (:func:`~ddpm_tutorial.datasets.captions.make_captions`,
    whose attribute thresholds are fitted on the training split).

    A folder (``dataset="folder:PATH"``) has no held-out split: ``split="test"`` raises.
    """
    if folder_of(config.dataset) is not None:
        if split != "train":
            raise ValueError(f"a folder of images has only a training split; got split {split!r}")
        images, info = folder_training_data(config)
        return images, None, info
    if config.dataset == "mnist":
        mnist = load_mnist(split, source=config.data_source, verbose=False)  # type: ignore[arg-type]
        images, labels = mnist.images, mnist.labels
        if config.num_train_images and split == "train":
            keep = subset_indices(int(images.shape[0]), config.num_train_images)
            images, labels = images[keep], labels[keep]
        info: dict[str, Any] = {
            "dataset": "mnist",
            "source": mnist.source,
            "split": split,
            "num_images": int(images.shape[0]),
        }
        captions: list[str] | None = None
        if config.conditioning == "text":  # captions are written from the pixels
            captions, thresholds = caption_training_digits(config, images, labels, split)
            info.update(
                captions_per_image=config.captions_per_image,
                num_pairs=len(captions),
                num_distinct_captions=len(set(captions)),
                caption_thresholds=dataclasses.asdict(thresholds),
                caption_examples=captions[: 2 * config.captions_per_image],
            )
        cond: Tensor | None = labels if config.conditioning == "class" else None
        if config.conditioning == "clip-image":  # embeddings of the full-size digits
            cond = clip_image_condition(config.clip, images)
            info["clip"] = config.clip
        elif config.conditioning == "low-res":  # the 28x28 digit is the target, 14x14 the input
            factor = MNIST_SIZE // config.model.low_res_size
            cond = downsample(images, factor)
            info["low_res_size"] = config.model.low_res_size
        if config.resolution and config.resolution != MNIST_SIZE:
            images = downsample(images, MNIST_SIZE // config.resolution)
            info["resolution"] = config.resolution
        if config.autoencoder:
            images, info["latent"] = to_latents(config.autoencoder, images, config.data_source)
        if captions is not None:
            return images.repeat_interleave(config.captions_per_image, dim=0), captions, info
        return images, cond, info
    n = 10_000 if split == "train" else 2_000
    points = make_toy_data(
        config.dataset, n, seed=config.seed if split == "train" else config.seed + 10_000
    )
    return (
        points,
        None,
        {"dataset": config.dataset, "source": "generated", "split": split, "num_images": n},
    )


def folder_training_data(config: TrainConfig) -> tuple[Tensor, dict[str, Any]]:
    """The images of ``config.dataset="folder:PATH"`` at the model's size and channels.

    Returns ``(images, description)``: images of shape (N, C, S, S) in [-1, 1] with C the
    model's ``in_channels`` and S its ``image_size``; ``config.num_train_images`` keeps a fixed
    random subset, as for MNIST.
    """
    folder = folder_of(config.dataset)
    assert folder is not None, "folder_training_data needs dataset='folder:PATH'"
    model = config.model
    loaded = load_image_folder(folder, model.image_size, model.in_channels)  # type: ignore[union-attr]
    images = loaded.images
    if config.num_train_images:
        images = images[subset_indices(int(images.shape[0]), config.num_train_images)]
    return images, {
        "dataset": "folder",
        "source": "folder",
        "folder": str(loaded.folder),
        "split": "train",
        "num_images": int(images.shape[0]),
        "num_files": len(loaded),
        "image_size": int(images.shape[-1]),
        "channels": int(images.shape[1]),
        "files_by_mode": loaded.modes,
        "conversion": "gray files repeated in R, G and B"
        if images.shape[1] == 3
        else "colour files to luminance (ITU-R BT.601)",
    }


def clip_image_condition(clip: str, images: Tensor) -> Tensor:
    """The condition of unCLIP's decoder: CLIP image embeddings (N, D) scaled to norm sqrt(D)."""
    return scale_embeddings(image_embeddings(load_clip(clip), images))


def to_latents(
    autoencoder: str, images: Tensor, data_source: str = "auto"
) -> tuple[Tensor, dict[str, Any]]:
    """Scaled latents of ``images`` under an autoencoder checkpoint, and what the card records.

    The scale is the one in the autoencoder's card (measured on the training digits), so the
    latents have unit variance over the training set.
    """
    ckpt = load_checkpoint(autoencoder)
    if not isinstance(ckpt.model, Autoencoder):
        raise ValueError(f"{autoencoder!r} is not an autoencoder checkpoint")
    scale = float(ckpt.card["latent"]["scale"])
    latents = encode_latents(ckpt.model, images, scale)
    return latents, {
        "autoencoder": autoencoder,
        "autoencoder_sha256": ckpt.card.get("sha256"),
        "scale": scale,
        "shape": list(latents.shape[1:]),
        "std_of_scaled_latents": round(float(latents.std()), 4),
    }


def subset_indices(num_images: int, num_keep: int) -> Tensor:
    """A fixed random subset of ``num_keep`` of ``num_images`` indices, sorted.

    A random subset rather than the first ``num_keep``: the offline digits come sorted by
    class, so the first 256 are all zeros.
    """
    if num_keep >= num_images:
        return torch.arange(num_images)
    g = torch.Generator().manual_seed(1234)
    return torch.randperm(num_images, generator=g)[:num_keep].sort().values


def caption_training_digits(
    config: TrainConfig, images: Tensor, labels: Tensor, split: str
) -> tuple[list[str], CaptionThresholds]:
    """Captions of ``images`` (``captions_per_image`` each, flattened digit by digit)."""
    if split != "train":  # thresholds always come from the training digits
        images_train = load_mnist("train", source=config.data_source, verbose=False).images  # type: ignore[arg-type]
        if config.num_train_images:
            images_train = images_train[subset_indices(len(images_train), config.num_train_images)]
    else:
        images_train = images
    per_image, thresholds = caption_split(
        images,
        labels,
        images_train,
        split=split,
        captions_per_image=config.captions_per_image,
        seed=config.seed,
    )
    return [c for caps in per_image for c in caps], thresholds


def encode_captions(model: nn.Module, captions: Sequence[str]) -> Any:
    """``model.encode_prompts`` of each caption, encoding every distinct caption once."""
    distinct = sorted(set(captions))
    where = {c: i for i, c in enumerate(distinct)}
    encoded = model.encode_prompts(distinct)  # type: ignore[operator]
    idx = torch.tensor([where[c] for c in captions], device=_device_of(encoded))
    return index_condition(encoded, idx)


def _device_of(cond: Any) -> torch.device:
    first = next(iter(cond.values())) if isinstance(cond, Mapping) else cond
    return first.device
