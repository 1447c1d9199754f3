"""The measured experiments of Part IV (4.1.1.2), at MNIST scale.

* :func:`guidance_tradeoff`: FID against CLIP score over guidance scales, the curve of
  GLIDE (Nichol et al. 2022, Fig. 6) and Imagen (Saharia et al. 2022, Fig. A.11): more
  guidance buys agreement with the prompt (CLIP score) at the price of diversity and
  realism (FID).
* :func:`encoder_vs_denoiser`: Imagen's finding (Sec. 4.4, Fig. 4) that the text encoder
  matters more than the size of the denoiser, measured on four text-to-image models: two
  text encoders (trained from scratch on our captions; the frozen pretrained MiniLM) by two
  denoiser sizes.

Both sample from prompts taken from the captions of the held-out digits (as the papers take
theirs from MS-COCO's validation captions), score FID against the held-out digits
(:mod:`ddpm_tutorial.fid`), the CLIP score against the prompts (:mod:`ddpm_tutorial.clip`)
and the fraction the held-out classifier labels as the prompted digit. ``python -m
ddpm_tutorial experiment ...`` runs them and writes the JSON the chapter shows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .checkpoints import Checkpoint, load_checkpoint
from .clip import captioned_digits, clip_score, load_clip
from .digit_classifier import load_digit_classifier
from .evaluation import prompted_digit_accuracy
from .fid import fid
from .models import count_parameters
from .pipelines import draw_samples

__all__ = [
    "encoder_vs_denoiser",
    "guidance_tradeoff",
    "heldout_prompts",
    "load_experiment",
    "score_samples",
]


def load_experiment(name: str) -> dict[str, Any]:
    """The JSON an ``experiment`` command wrote to ``data/experiments/NAME.json``.

    Looked up beside each checkpoint folder (see
    :func:`~ddpm_tutorial.checkpoints.checkpoint_dirs`), so it is found in a source checkout,
    from a chapter's folder and in Colab (``$DDPM_TUTORIAL_DATA``).
    """
    import json

    from .checkpoints import checkpoint_dirs

    tried = [d.parent / "experiments" / f"{name}.json" for d in checkpoint_dirs()]
    for path in tried:
        if path.is_file():
            return json.loads(path.read_text())
    raise FileNotFoundError(
        f"no experiment {name!r}; looked for {', '.join(str(p) for p in tried[:3])}; run "
        f"`python -m ddpm_tutorial experiment {name} ... --out data/experiments/{name}.json`"
    )


def heldout_prompts(num_prompts: int, seed: int = 0) -> list[str]:
    """``num_prompts`` captions of held-out digits (one per digit, a fixed random subset)."""
    _, _, captions, _ = captioned_digits("test", captions_per_image=1, seed=0)
    if not 1 <= num_prompts <= len(captions):
        raise ValueError(f"num_prompts must lie in [1, {len(captions)}]; got {num_prompts}")
    order = torch.randperm(len(captions), generator=torch.Generator().manual_seed(seed))
    return [captions[i][0] for i in order[:num_prompts].tolist()]


def score_samples(
    samples: torch.Tensor,
    prompts: Sequence[str],
    *,
    clip: nn.Module | None = None,
    classifier: nn.Module | None = None,
) -> dict[str, float]:
    """FID (held-out digits), mean CLIP score and prompted-digit accuracy of one sample set."""
    return {
        "fid": round(fid(samples), 3),
        "clip_score": round(float(clip_score(clip or load_clip(), samples, prompts).mean()), 3),
        "prompted_digit_accuracy": prompted_digit_accuracy(
            samples, prompts, classifier or load_digit_classifier()
        )["accuracy"],
    }


def _parts(ckpt: Checkpoint) -> dict[str, Any]:
    model = ckpt.model
    encoder = getattr(model, "text_encoder", None)
    text_params = count_parameters(encoder) if encoder is not None else 0
    kind = model.config.text_encoder  # type: ignore[union-attr]
    if kind == "minilm":  # frozen and not stored in the checkpoint: count the loaded encoder
        from .text.pretrained import load_minilm

        text_params = count_parameters(load_minilm())
    return {
        "text_encoder": kind,
        "text_encoder_parameters": text_params,
        "denoiser_parameters": count_parameters(model)
        - (count_parameters(encoder) if encoder is not None else 0),
    }


def _sample_and_score(
    ckpt: Checkpoint,
    prompts: list[str],
    w: float,
    steps: int,
    seed: int,
    judges: tuple[nn.Module, nn.Module],
) -> dict[str, Any]:
    """Samples for ``prompts`` at guidance scale ``w``, scored; with the sampling time."""
    start = time.perf_counter()
    x = draw_samples(ckpt, len(prompts), prompt=prompts, guidance_scale=w, steps=steps, seed=seed)
    seconds = time.perf_counter() - start
    clip, classifier = judges
    return {
        **score_samples(x, prompts, clip=clip, classifier=classifier),
        "seconds": round(seconds, 1),
    }


def guidance_tradeoff(
    ckpt: Checkpoint,
    guidance_scales: Sequence[float] = (1.0, 2.0, 3.0, 5.0, 8.0),
    *,
    num_samples: int = 400,
    steps: int = 25,
    seed: int = 0,
) -> dict[str, Any]:
    """FID, CLIP score and prompted-digit accuracy per guidance scale (same prompts and seeds)."""
    prompts = heldout_prompts(num_samples, seed)
    judges = (load_clip(), load_digit_classifier())
    rows = [
        {"guidance_scale": w, **_sample_and_score(ckpt, prompts, w, steps, seed, judges)}
        for w in guidance_scales
    ]
    return {
        "experiment": "guidance-tradeoff",
        "checkpoint": ckpt.name,
        "num_samples": num_samples,
        "sampler": f"DDIM, {steps} steps, eta 0",
        "prompts": "captions of held-out digits",
        "rows": rows,
    }


def encoder_vs_denoiser(
    checkpoints: Sequence[str],
    *,
    guidance_scale: float = 3.0,
    num_samples: int = 400,
    steps: int = 25,
    seed: int = 0,
) -> dict[str, Any]:
    """One row per text-to-image checkpoint: its parts' sizes and the three measures."""
    prompts = heldout_prompts(num_samples, seed)
    judges = (load_clip(), load_digit_classifier())
    rows = []
    for name in checkpoints:
        ckpt = load_checkpoint(name)
        row = _sample_and_score(ckpt, prompts, guidance_scale, steps, seed, judges)
        rows.append({"checkpoint": ckpt.name, **_parts(ckpt), **row})
    return {
        "experiment": "encoder-vs-denoiser",
        "guidance_scale": guidance_scale,
        "num_samples": num_samples,
        "sampler": f"DDIM, {steps} steps, eta 0",
        "prompts": "captions of held-out digits",
        "rows": rows,
    }
