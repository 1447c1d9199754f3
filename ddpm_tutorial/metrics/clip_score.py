r"""The CLIP score: how well images agree with their prompts, read by a CLIP.

The CLIP score of an image and a prompt is the cosine similarity of their CLIP embeddings,
clipped at zero and scaled. Hessel et al. (2021, eq. 1) define CLIPScore as
:math:`2.5 \cdot \max(\cos(u, v), 0)`; torchmetrics, and this book, scale by 100 instead,
:math:`100 \cdot \max(\cos(u, v), 0)`; Imagen (Saharia et al. 2022) reports the raw cosine. For a
set of samples, the mean over the set. The CLIP that reads the images here is ``mnist-clip``
(:mod:`ddpm_tutorial.systems.clip` trains it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..checkpoints import load_checkpoint
from ..models.clip import CLIP

__all__ = ["clip_score", "image_embeddings", "load_clip"]


@torch.no_grad()
def image_embeddings(model: CLIP, images: Tensor, batch_size: int = 500) -> Tensor:
    """Unit CLIP image embeddings (N, embed_dim) of images (N, 1, 28, 28), on the CPU.

    The images are clipped to [-1, 1] first and encoded ``batch_size`` at a time.
    """
    model.eval()
    dev = model.logit_scale.device
    return torch.cat(
        [
            model.encode_image(images[i : i + batch_size].to(dev).float().clamp(-1, 1)).cpu()
            for i in range(0, images.shape[0], batch_size)
        ]
    )


@torch.no_grad()
def clip_score(model: CLIP, images: Tensor, prompts: Sequence[str]) -> Tensor:
    """Per-sample CLIP score 100 * max(cos(image, prompt), 0), shape (N,).

    Args:
        model: a CLIP (:func:`load_clip`).
        images: (N, 1, 28, 28) in [-1, 1] (clipped to it first).
        prompts: N prompts, one per image.
    """
    if isinstance(prompts, str):
        raise TypeError("clip_score takes one prompt per image; wrap a single prompt in a list")
    if images.shape[0] != len(prompts):
        raise ValueError(f"{images.shape[0]} images but {len(prompts)} prompts; give one each")
    u = image_embeddings(model, images)
    v = model.encode_prompts(list(prompts)).cpu()
    return 100 * (u * v).sum(1).clamp(min=0)


def load_clip(name: str = "mnist-clip", device: torch.device | str = "cpu") -> CLIP:
    """Load the shipped CLIP (or any checkpoint of kind ``clip``)."""
    model = load_checkpoint(name, device=device).model
    if not isinstance(model, CLIP):
        raise ValueError(f"{name!r} is not a CLIP checkpoint")
    return model
