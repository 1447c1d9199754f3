"""The measured experiments of 4.1.1.2: the guidance trade-off, and encoder against denoiser.

* :func:`guidance_tradeoff`: FID against CLIP score over guidance scales, the curve of
  GLIDE (Nichol et al. 2022, Fig. 6) and Imagen (Saharia et al. 2022, Fig. A.11): more
  guidance buys agreement with the prompt (CLIP score) at the price of diversity and
  realism (FID).
* :func:`encoder_vs_denoiser`: Imagen's finding (Sec. 4.4, Fig. 4) that the text encoder
  matters more than the size of the denoiser, measured on four text-to-image models: two
  text encoders (trained from scratch on our captions; the frozen pretrained MiniLM) by two
  denoiser sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..checkpoints import Checkpoint, load_checkpoint
from ..metrics.classifier import load_digit_classifier
from ..metrics.clip_score import load_clip
from .scoring import heldout_prompts, sample_and_score, text_encoder_parameters

__all__ = ["encoder_vs_denoiser", "guidance_tradeoff"]


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
        {"guidance_scale": w, **sample_and_score(ckpt, prompts, w, steps, seed, judges)}
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
        row = sample_and_score(ckpt, prompts, guidance_scale, steps, seed, judges)
        rows.append({"checkpoint": ckpt.name, **text_encoder_parameters(ckpt), **row})
    return {
        "experiment": "encoder-vs-denoiser",
        "guidance_scale": guidance_scale,
        "num_samples": num_samples,
        "sampler": f"DDIM, {steps} steps, eta 0",
        "prompts": "captions of held-out digits",
        "rows": rows,
    }
