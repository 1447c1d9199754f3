"""The measured experiments of text-to-image models: the guidance trade-off, encoder against
denoiser (4.1.1.2), and the UNet against the MM-DiT on the same captions (Part V).

* :func:`guidance_tradeoff`: FID against CLIP score over guidance scales, the curve of
  GLIDE (Nichol et al. 2022, Fig. 6) and Imagen (Saharia et al. 2022, Fig. A.11): more
  guidance buys agreement with the prompt (CLIP score) at the price of diversity and
  realism (FID; recall and coverage say which). With ``clip_x0`` it also measures what
  clipping the predicted clean image at each step changes.
* :func:`encoder_vs_denoiser`: Imagen's finding (Sec. 4.4, Fig. 4) that the text encoder
  matters more than the size of the denoiser, measured on four text-to-image models: two
  text encoders (trained from scratch on our captions; the frozen pretrained MiniLM) by two
  denoiser sizes, at one or several guidance scales.
* :func:`text_backbones`: the same comparison with another question: two text-to-image
  networks that differ only in their backbone (a UNet with cross-attention against SD3's
  MM-DiT with joint attention, Esser et al. 2024, sec. 4), trained on the same captions with
  the same objective and budget, at each guidance scale.

Both sample every row from the same held-out captions with the same seeds, score it with
:func:`~ddpm_tutorial.experiments.scoring.score_samples`, rank the rows only where intervals
separate, and recommend a sampling default per model
(:func:`~ddpm_tutorial.experiments.ranking.recommend_default`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..checkpoints import Checkpoint
from ..models import model_kind
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

__all__ = [
    "compare_text_models",
    "encoder_vs_denoiser",
    "guidance_settings",
    "guidance_tradeoff",
    "text_backbones",
]

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


def compare_text_models(
    checkpoints: Sequence[str | Generator],
    *,
    experiment: str,
    guidance_scales: Sequence[float] = (3.0,),
    clip_x0: Sequence[bool | None] = (None,),
    steps: int | None = None,
    etas: Sequence[float | None] = (None,),
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """One row per text-to-image checkpoint and setting: its parts' sizes and every measure.

    ``ranking`` compares the checkpoints at each setting; ``per_checkpoint`` ranks each
    checkpoint's settings and recommends its default.

    Args:
        checkpoints: the text-to-image checkpoints.
        experiment: the name the result records (the question it answers).
        guidance_scales, clip_x0, steps, etas: the settings grid (see
            :func:`guidance_settings`).
        protocol: as :func:`guidance_tradeoff`.

    Raises:
        ValueError: for fewer than one checkpoint, or one that draws without prompts.
    """
    if not checkpoints:
        raise ValueError(f"{experiment} compares text-to-image checkpoints; got none")
    judges = load_judges()
    settings = guidance_settings(guidance_scales, clip_x0, steps, etas)
    rows, per_checkpoint = [], {}
    for name in checkpoints:
        gen = load_generator(name)
        if not is_prompted(gen) or not isinstance(gen, Checkpoint):
            raise ValueError(
                f"{experiment} compares text-to-image checkpoints; {gen.name!r} is not one"
            )
        mine = sweep(gen, settings, protocol, judges)
        sizes = text_encoder_parameters(gen)
        rows += [
            {"checkpoint": gen.name, "kind": model_kind(gen.model), **sizes, **r} for r in mine
        ]
        current = sampling_of(gen)
        per_checkpoint[gen.name] = {"current_sampling": current, **_decide(mine, current)}
    by_setting = {}
    for label in dict.fromkeys(r["label"] for r in rows):
        same = [r for r in rows if r["label"] == label]
        by_setting[label] = ranking(same, [r["checkpoint"] for r in same])
    return {
        "experiment": experiment,
        "num_samples": protocol.num_samples,
        "prompts": _PROMPTS,
        "rows": rows,
        "ranking": by_setting,
        "per_checkpoint": per_checkpoint,
    }


def encoder_vs_denoiser(checkpoints: Sequence[str | Generator], **settings: Any) -> dict[str, Any]:
    """Imagen's question (Sec. 4.4): which matters more, the text encoder or the denoiser?

    :func:`compare_text_models` of checkpoints that differ in encoder and denoiser size
    (keywords as there, ``guidance_scales`` default (3.0,)).
    """
    return compare_text_models(checkpoints, experiment="encoder-vs-denoiser", **settings)


def text_backbones(checkpoints: Sequence[str | Generator], **settings: Any) -> dict[str, Any]:
    """Part V's question: on the same captions, objective and budget, UNet or MM-DiT?

    :func:`compare_text_models` of checkpoints that differ in their backbone (keywords as
    there); each row records the network's ``kind`` (``text-unet``, ``text-dit``).
    """
    return compare_text_models(checkpoints, experiment="text-backbones", **settings)
