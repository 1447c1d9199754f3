r"""CLIP for digits: contrastive training, zero-shot labels and retrieval.

Radford et al. (2021) train an image encoder and a text encoder so that an image and its own
caption have a high cosine similarity and mismatched pairs a low one. For a batch of B
pairs with logits :math:`L_{ij} = e^{s}\,\langle u_i, v_j\rangle` (unit image embeddings u,
unit text embeddings v, learned log-scale s), the loss is the mean of two cross-entropies,
image-to-text over the rows and text-to-image over the columns (CLIP's Figure 3):

.. math::

    \mathcal L = \tfrac12\Bigl(-\tfrac1B\sum_i \log \frac{e^{L_{ii}}}{\sum_j e^{L_{ij}}}
               -\tfrac1B\sum_j \log \frac{e^{L_{jj}}}{\sum_i e^{L_{ij}}}\Bigr).

Captions of digits repeat ("a handwritten 3" describes hundreds of images), so a batch often
holds the same caption twice; :func:`contrastive_loss` then spreads the target over every
pair whose captions are equal instead of calling one of them a negative.

The CLIP score that reads images with this CLIP is in :mod:`ddpm_tutorial.metrics.clip_score`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checkpoints import save_checkpoint
from ..data.augment import augment_digits
from ..data.captions import (
    DIGIT_WORDS,
    SLANT_WORDS,
    THICKNESS_WORDS,
    CaptionThresholds,
    caption_split,
    caption_vocabulary,
    measure_attributes,
    prompt_digit,
)
from ..data.mnist import load_mnist
from ..metrics.clip_score import clip_score, image_embeddings
from ..models.clip import CLIP, CLIPConfig
from ..training.fit import fit

__all__ = [
    "ZERO_SHOT_TEMPLATES",
    "captioned_digits",
    "contrastive_loss",
    "retrieval_metrics",
    "run_clip_training",
    "train_clip",
    "zero_shot_accuracy",
    "zero_shot_logits",
    "zero_shot_text_embeddings",
]

#: the prompts whose embeddings are averaged for each digit in zero-shot classification
#: (CLIP's prompt ensembling); {d} is the numeral and {w} the word.
ZERO_SHOT_TEMPLATES = ("a handwritten {d}", "the digit {w}", "the number {w}", "{w}")


def contrastive_loss(logits: Tensor, caption_ids: Tensor | None = None) -> Tensor:
    """CLIP's symmetric cross-entropy over a (B, B) logit matrix (images x texts).

    Args:
        logits: ``logits[i, j]`` scores image i against text j; the diagonal are the pairs.
        caption_ids: optional (B,) ids of the captions' texts; where two texts are equal,
            both columns are targets of each row (and vice versa), with equal weight.
    """
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be a square (B, B) matrix; got {tuple(logits.shape)}")
    B = logits.shape[0]
    if caption_ids is None:
        target = torch.eye(B, device=logits.device)
    else:
        if caption_ids.shape != (B,):
            raise ValueError(f"caption_ids must have shape ({B},); got {tuple(caption_ids.shape)}")
        target = (caption_ids[:, None] == caption_ids[None, :]).to(logits.dtype)
    target = target / target.sum(1, keepdim=True)  # symmetric, so rows and columns agree
    image_to_text = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    text_to_image = -(target * F.log_softmax(logits, dim=0)).sum(0).mean()
    return (image_to_text + text_to_image) / 2


def captioned_digits(
    split: str = "train", *, captions_per_image: int = 4, source: str = "auto", seed: int = 0
) -> tuple[Tensor, Tensor, list[list[str]], CaptionThresholds]:
    """Digits, labels, their captions (per image) and the thresholds (fitted on ``train``).

    The same captions as Part II's text-to-image data (:mod:`ddpm_tutorial.data.captions`);
    the held-out split's are written with another seed.
    """
    data = load_mnist(split, source=source, verbose=False)  # type: ignore[arg-type]
    captions, thresholds = _captions(split, captions_per_image, source, seed)
    return data.images, data.labels, [list(c) for c in captions], thresholds


@functools.lru_cache(maxsize=8)
def _captions(
    split: str, captions_per_image: int, source: str, seed: int
) -> tuple[tuple[tuple[str, ...], ...], CaptionThresholds]:
    """The captions of :func:`captioned_digits`, written once per session (they are fixed)."""
    data = load_mnist(split, source=source, verbose=False)  # type: ignore[arg-type]
    train_images = (
        data.images
        if split == "train"
        else load_mnist("train", source=source, verbose=False).images
    )
    captions, thresholds = caption_split(
        data.images,
        data.labels,
        train_images,
        split=split,
        captions_per_image=captions_per_image,
        seed=seed,
    )
    return tuple(tuple(c) for c in captions), thresholds


def train_clip(
    model: CLIP,
    images: Tensor,
    captions: Sequence[Sequence[str]],
    *,
    steps: int = 1500,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    augment: bool = True,
) -> CLIP:
    """Train ``model`` with :func:`contrastive_loss` on (image, one of its captions) pairs.

    Each step draws ``batch_size`` images and one of each image's captions at random;
    AdamW with a one-cycle learning rate; random shifts and rotations of the images.
    """
    if images.shape[0] != len(captions):
        raise ValueError(f"{images.shape[0]} images but captions for {len(captions)}")
    texts = sorted({c for caps in captions for c in caps})
    text_id = {c: i for i, c in enumerate(texts)}
    all_ids = model.tokenize(texts)  # (num_texts, L): every distinct caption tokenized once
    K = len(captions[0])
    table = torch.tensor([[text_id[c] for c in caps] for caps in captions])  # (N, K)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)

    def step_loss(step: int) -> Tensor:
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=g)
        cid = table[idx, torch.randint(0, K, (batch_size,), generator=g)]
        x = augment_digits(images[idx], g) if augment else images[idx]
        return contrastive_loss(model(x, all_ids[cid]), cid)

    fit(model, step_loss, steps=steps, lr=lr, weight_decay=1e-4, warmup=0.3)
    return model.eval()


@torch.no_grad()
def zero_shot_text_embeddings(model: CLIP) -> Tensor:
    """Unit embeddings (10, D) of each digit's prompt ensemble (the mean over the templates)."""
    prompts = [t.format(d=d, w=DIGIT_WORDS[d]) for d in range(10) for t in ZERO_SHOT_TEMPLATES]
    v = model.encode_prompts(prompts).cpu().view(10, len(ZERO_SHOT_TEMPLATES), -1).mean(1)
    return F.normalize(v, dim=-1)


@torch.no_grad()
def zero_shot_logits(model: CLIP, images: Tensor) -> Tensor:
    """Cosine similarity (N, 10) of each image with each digit's prompt-ensemble embedding."""
    return image_embeddings(model, images) @ zero_shot_text_embeddings(model).T


def zero_shot_accuracy(model: CLIP, images: Tensor, labels: Tensor) -> float:
    """Fraction of images whose most similar digit prompt names their label."""
    return float((zero_shot_logits(model, images).argmax(1) == labels).double().mean())


def _caption_is_true(caption: str, label: int, words: Sequence[str]) -> bool:
    """A caption describes a digit when it names its digit and only words that apply to it."""
    if prompt_digit(caption) != label:
        return False
    text = caption.lower()
    used = [w for w in (*THICKNESS_WORDS, *SLANT_WORDS) if w in text]
    return all(w in words for w in used)


@torch.no_grad()
def retrieval_metrics(
    model: CLIP,
    images: Tensor,
    labels: Tensor,
    captions: Sequence[str],
    thresholds: CaptionThresholds,
) -> dict[str, float]:
    """Retrieval among N held-out (image, caption) pairs.

    * ``text_to_image_r1`` / ``_r5``: the caption's own image ranks first / in the top 5 of
      all N images (chance: 1/N and 5/N). Many digits fit a caption equally well, so
      these are low even for a perfect model;
    * ``text_to_image_true_r1``: the top image is one the caption is true of (right digit,
      and every attribute word applies to it);
    * ``image_to_text_true_r1``: the top caption among all N is true of the image.
    """
    u = image_embeddings(model, images)
    v = torch.cat(
        [
            model.encode_prompts(list(captions[i : i + 500])).cpu()
            for i in range(0, len(captions), 500)
        ]
    )
    sim = v @ u.T  # (N texts, N images)
    N = len(captions)
    attrs = measure_attributes(images.clamp(-1, 1))
    words = [
        thresholds.words(w, s) for w, s in zip(attrs.stroke_width.tolist(), attrs.slant.tolist())
    ]
    top5 = sim.topk(5, dim=1).indices
    own = torch.arange(N)
    t2i_top = top5[:, 0].tolist()
    i2t_top = sim.argmax(0).tolist()
    lab = labels.tolist()
    return {
        "num_pairs": N,
        "text_to_image_r1": round(float((top5[:, 0] == own).double().mean()), 4),
        "text_to_image_r5": round(float((top5 == own[:, None]).any(1).double().mean()), 4),
        "chance_r1": round(1 / N, 4),
        "text_to_image_true_r1": round(
            sum(_caption_is_true(captions[i], lab[j], words[j]) for i, j in enumerate(t2i_top)) / N,
            4,
        ),
        "image_to_text_true_r1": round(
            sum(_caption_is_true(captions[i], lab[j], words[j]) for j, i in enumerate(i2t_top)) / N,
            4,
        ),
    }


def run_clip_training(
    out_dir: str | Path,
    *,
    steps: int = 1500,
    seed: int = 0,
    data_source: str = "auto",
    command: str = "",
    batch_size: int = 128,
) -> dict[str, Any]:
    """Train ``mnist-clip`` on the training digits' captions; measure it on held-out digits."""
    images, _, captions, thresholds = captioned_digits("train", source=data_source, seed=seed)
    model = CLIP(CLIPConfig(vocabulary=caption_vocabulary()))
    start = time.perf_counter()
    train_clip(model, images, captions, steps=steps, batch_size=batch_size, seed=seed)
    wall = time.perf_counter() - start
    test_images, test_labels, test_caps, _ = captioned_digits(
        "test", captions_per_image=1, source=data_source, seed=seed
    )
    test_captions = [c[0] for c in test_caps]
    scores = clip_score(model, test_images, test_captions)
    shuffled = [
        test_captions[i]
        for i in torch.randperm(len(test_captions), generator=torch.Generator().manual_seed(seed))
    ]
    metrics = {
        "zero_shot_accuracy": round(zero_shot_accuracy(model, test_images, test_labels), 4),
        "retrieval": retrieval_metrics(model, test_images, test_labels, test_captions, thresholds),
        "clip_score_real_pairs": round(float(scores.mean()), 2),
        "clip_score_shuffled_pairs": round(
            float(clip_score(model, test_images, shuffled).mean()), 2
        ),
        "temperature": round(model.temperature, 4),
        "evaluated_on": f"held-out split, {len(test_captions)} digits, one caption each",
    }
    card = {
        "data": {
            "dataset": "mnist captions",
            "split": "train",
            "num_images": int(images.shape[0]),
            "captions_per_image": len(captions[0]),
            "num_distinct_captions": len({c for caps in captions for c in caps}),
        },
        "training": {
            "steps": steps,
            "batch_size": batch_size,
            "seed": seed,
            "wall_time_s": round(wall, 1),
            "loss": "symmetric contrastive (InfoNCE), equal captions share the target",
            "augmentation": "rotation +-12 deg, scale 0.9-1.1, shift +-2 px",
        },
        "metrics": metrics,
        "command": command,
    }
    return save_checkpoint(
        model, Path(out_dir) / "model.safetensors", schedule=None, name="mnist-clip", card=card
    )
