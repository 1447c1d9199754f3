"""The measured experiments of 4.1.1.2: the guidance trade-off, and encoder against denoiser.

* :func:`guidance_tradeoff`: FID against CLIP score over guidance scales, the curve of
  GLIDE (Nichol et al. 2022, Fig. 6) and Imagen (Saharia et al. 2022, Fig. A.11): more
  guidance buys agreement with the prompt (CLIP score) at the price of diversity and
  realism (FID; recall and coverage say which). With ``clip_x0`` it also measures what
  clipping the predicted clean image at each step changes.
* :func:`encoder_vs_denoiser`: Imagen's finding (Sec. 4.4, Fig. 4) that the text encoder
  matters more than the size of the denoiser, measured on four text-to-image models: two
  text encoders (trained from scratch on our captions; the frozen pretrained MiniLM) by two
  denoiser sizes, at one or several guidance scales.

Both sample every row from the same held-out captions with the same seeds, score it with
:func:`~ddpm_tutorial.experiments.scoring.score_samples`, rank the rows only where intervals
separate, and recommend a sampling default per model
(:func:`~ddpm_tutorial.experiments.ranking.recommend_default`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .generators import (
    DEFAULT_PROTOCOL,
    Generator,
    Protocol,
    is_prompted,
    load_generator,
    sampling_of,
    sweep,
    text_encoder_parameters,
)
from .ranking import ranking, recommend_default
from .scoring import load_judges

__all__ = ["encoder_vs_denoiser", "guidance_settings", "guidance_tradeoff"]

_PROMPTS = "captions of held-out digits, one per sample (heldout_pairs)"


def guidance_settings(
    guidance_scales: Sequence[float],
    clip_x0: Sequence[bool | None] = (None,),
    steps: int | None = None,
    etas: Sequence[float | None] = (None,),
) -> list[dict[str, Any]]:
    """The grid of settings: every scale with every clipping choice and DDIM eta.

    None for a clipping choice or an eta keeps the card's; ``steps`` None likewise.
    """
    grid = []
    for w in guidance_scales:
        for eta in etas:
            for clip in clip_x0:
                s: dict[str, Any] = {"guidance_scale": float(w)}
                if clip is not None:
                    s["clip_x0"] = bool(clip)
                if eta is not None:
                    s["eta"] = float(eta)
                if steps is not None:
                    s["steps"] = int(steps)
                grid.append(s)
    return grid


def _decide(rows: list[dict[str, Any]], current: dict[str, Any]) -> dict[str, Any]:
    labels = [r["label"] for r in rows]
    return {
        "ranking": ranking(rows, labels),
        "recommended_default": recommend_default(rows, labels, current),
    }


def guidance_tradeoff(
    checkpoint: str | Generator,
    guidance_scales: Sequence[float] = (1.0, 2.0, 3.0, 5.0, 8.0),
    *,
    clip_x0: Sequence[bool | None] = (None,),
    steps: int | None = None,
    etas: Sequence[float | None] = (None,),
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """Every measure per guidance scale (clipping choice, eta) of one generator.

    A text-to-image checkpoint or system draws from the held-out captions; an unconditional
    checkpoint draws without prompts (then only w = 1 applies, and the grid compares its
    clipping choices and etas: a fresh run's sampling defaults are chosen so).

    Args:
        checkpoint: a text-to-image checkpoint or a system (``mnist-unclip``), loaded or by
            name.
        guidance_scales: the scales w.
        clip_x0: clipping choices per scale: True, False, or None for the card's.
        steps: DDIM steps (default: the card's).
        etas: DDIM etas per scale (None: the card's).
        protocol: samples per row, seed, bootstrap, where samples are saved.

    Returns:
        ``rows`` (each with its ``label`` and ``sampling``), ``ranking`` (per measure),
        ``recommended_default`` and the card's ``current_sampling``.
    """
    gen = load_generator(checkpoint)
    settings = guidance_settings(guidance_scales, clip_x0, steps, etas)
    rows = sweep(gen, settings, protocol, load_judges())
    current = sampling_of(gen)
    return {
        "experiment": "guidance-tradeoff",
        "checkpoint": gen.name,
        "num_samples": protocol.num_samples,
        "prompts": _PROMPTS if is_prompted(gen) else "none (unconditional)",
        "current_sampling": current,
        "rows": rows,
        **_decide(rows, current),
    }


def encoder_vs_denoiser(
    checkpoints: Sequence[str | Generator],
    *,
    guidance_scales: Sequence[float] = (3.0,),
    clip_x0: Sequence[bool | None] = (None,),
    steps: int | None = None,
    etas: Sequence[float | None] = (None,),
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """One row per text-to-image checkpoint and setting: its parts' sizes and every measure.

    ``ranking`` compares the checkpoints at each setting (the experiment's question: which
    matters more, the encoder or the denoiser?); ``per_checkpoint`` ranks each checkpoint's
    settings and recommends its default.

    Args:
        checkpoints: the text-to-image checkpoints.
        guidance_scales, clip_x0, steps, etas: the settings grid (see
            :func:`guidance_settings`).
        protocol: as :func:`guidance_tradeoff`.
    """
    judges = load_judges()
    settings = guidance_settings(guidance_scales, clip_x0, steps, etas)
    rows, per_checkpoint = [], {}
    for name in checkpoints:
        gen = load_generator(name)
        mine = sweep(gen, settings, protocol, judges)
        sizes = text_encoder_parameters(gen)  # type: ignore[arg-type]
        rows += [{"checkpoint": gen.name, **sizes, **r} for r in mine]
        current = sampling_of(gen)
        per_checkpoint[gen.name] = {"current_sampling": current, **_decide(mine, current)}
    by_setting = {}
    for label in dict.fromkeys(r["label"] for r in rows):
        same = [r for r in rows if r["label"] == label]
        by_setting[label] = ranking(same, [r["checkpoint"] for r in same])
    return {
        "experiment": "encoder-vs-denoiser",
        "num_samples": protocol.num_samples,
        "prompts": _PROMPTS,
        "rows": rows,
        "ranking": by_setting,
        "per_checkpoint": per_checkpoint,
    }
