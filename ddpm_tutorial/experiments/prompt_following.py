"""Does a text-to-image model do what its prompt says? The measurements of Part II.

Three questions, each answered by sampling the model from prompts and measuring the samples:

1. **The digit.** For each digit, the fraction of samples from "a handwritten {d}" that the
   held-out classifier labels as ``d``, over a sweep of guidance scales ``w``
   (:func:`guidance_sweep`).
2. **The attributes.** How "thin", "thick", "slanted" and "leaning left" in the prompt move the
   stroke width and slant measured from the samples, against the same prompt without the
   word and against the real digits that carry that word in their captions
   (:func:`attribute_response`).
3. **Paraphrases.** The digit accuracy on prompts that no training caption used ("the numeral
   7", "a sketch of a seven"), and the attribute response to synonyms ("bold" for "thick"),
   which separates an encoder that learned only the caption vocabulary from one that knows
   English (:func:`paraphrase_accuracy`).

:func:`text_report` runs all three; ``python -m ddpm_tutorial evaluate-text`` prints it as
JSON, and the model cards of ``mnist-text`` and ``mnist-text-minilm`` carry its output.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..checkpoints import Checkpoint
from ..data.captions import (
    DIGIT_WORDS,
    PARAPHRASE_TEMPLATES,
    CaptionThresholds,
    measure_attributes,
)
from ..data.mnist import load_mnist
from ..metrics.classifier import load_digit_classifier, prompted_digit_accuracy
from ..systems.pipeline import draw_samples

__all__ = [
    "ATTRIBUTE_SYNONYMS",
    "attribute_response",
    "digit_prompts",
    "guidance_sweep",
    "paraphrase_accuracy",
    "text_report",
]

#: a word of the training captions -> a synonym that no caption uses
ATTRIBUTE_SYNONYMS = {"thin": "skinny", "thick": "bold", "slanted": "tilted"}

_ATTRIBUTES = ("thin", "thick", "slanted", "leaning left")


def digit_prompts(template: str, per_digit: int) -> list[str]:
    """``per_digit`` copies of ``template`` for each digit 0-9 ({d}: numeral, {w}: word)."""
    return [template.format(d=d, w=DIGIT_WORDS[d]) for d in range(10) for _ in range(per_digit)]


def _sample(
    ckpt: Checkpoint,
    prompts: list[str],
    w: float,
    steps: int,
    seed: int,
    clip_x0: bool | None = None,
) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    x = draw_samples(
        ckpt,
        len(prompts),
        prompt=prompts,
        guidance_scale=w,
        steps=steps,
        seed=seed,
        clip_x0=clip_x0,
    )
    return x, time.perf_counter() - start


def guidance_sweep(
    ckpt: Checkpoint,
    guidance_scales: Sequence[float] = (1.0, 2.0, 3.0, 5.0),
    *,
    per_digit: int = 20,
    steps: int = 50,
    seed: int = 0,
    template: str = "a handwritten {d}",
    classifier: nn.Module | None = None,
    clip_x0: bool | None = None,
) -> list[dict[str, Any]]:
    """Prompted-digit accuracy per guidance scale (the same seeds at every scale).

    ``clip_x0`` None uses the model card's sampling default.

    Returns:
        One row per scale: ``guidance_scale``, ``accuracy``, ``per_digit``,
        ``mean_prob_of_prompted_digit``, ``seconds`` (wall time of the sampling) and the
        mean measured ``stroke_width``.
    """
    classifier = classifier or load_digit_classifier()
    prompts = digit_prompts(template, per_digit)
    rows = []
    for w in guidance_scales:
        x, seconds = _sample(ckpt, prompts, w, steps, seed, clip_x0)
        row = {"guidance_scale": w, **prompted_digit_accuracy(x, prompts, classifier)}
        row["clip_x0"] = (
            clip_x0 if clip_x0 is not None else bool(ckpt.card["sampling"].get("clip_x0", False))
        )
        row["seconds"] = round(seconds, 1)
        row["stroke_width"] = round(
            float(measure_attributes(x.clamp(-1, 1)).stroke_width.mean()), 3
        )
        rows.append(row)
    return rows


def real_attribute_means(data_source: str = "auto") -> dict[str, dict[str, float]]:
    """Mean stroke width and slant of the real training digits that each attribute word fits."""
    images = load_mnist("train", source=data_source, verbose=False).images
    attrs = measure_attributes(images)
    th = CaptionThresholds.fit(attrs)
    groups = {
        "": torch.ones_like(attrs.slant, dtype=torch.bool),
        "thin": attrs.stroke_width < th.thin,
        "thick": attrs.stroke_width > th.thick,
        "slanted": attrs.slant > th.right,
        "leaning left": attrs.slant < th.left,
    }
    return {
        name: {
            "stroke_width": round(float(attrs.stroke_width[m].mean()), 3),
            "slant": round(float(attrs.slant[m].mean()), 3),
        }
        for name, m in groups.items()
    }


def attribute_response(
    ckpt: Checkpoint,
    guidance_scale: float,
    *,
    words: Sequence[str] = ("", *_ATTRIBUTES),
    per_digit: int = 10,
    steps: int = 50,
    seed: int = 0,
    classifier: nn.Module | None = None,
) -> list[dict[str, Any]]:
    """Measured stroke width and slant of samples from "a {word} handwritten {d}", per word.

    ``""`` is the prompt without an attribute. Each row also gives the digit accuracy, and,
    for words of the training captions, the real digits' means (``real_stroke_width``,
    ``real_slant``).
    """
    classifier = classifier or load_digit_classifier()
    real = real_attribute_means(ckpt.card.get("data", {}).get("source", "auto"))
    rows = []
    for word in words:
        template = f"a {word} handwritten {{d}}" if word else "a handwritten {d}"
        prompts = digit_prompts(template, per_digit)
        x, _ = _sample(ckpt, prompts, guidance_scale, steps, seed)
        attrs = measure_attributes(x.clamp(-1, 1))
        row: dict[str, Any] = {
            "word": word or "(none)",
            "prompt": template,
            "stroke_width": round(float(attrs.stroke_width.mean()), 3),
            "slant": round(float(attrs.slant.mean()), 3),
            "accuracy": prompted_digit_accuracy(x, prompts, classifier)["accuracy"],
        }
        if word in real:
            row.update(real_stroke_width=real[word]["stroke_width"], real_slant=real[word]["slant"])
        rows.append(row)
    return rows


def paraphrase_accuracy(
    ckpt: Checkpoint,
    guidance_scale: float,
    *,
    templates: Sequence[str] = PARAPHRASE_TEMPLATES,
    per_digit: int = 10,
    steps: int = 50,
    seed: int = 0,
    classifier: nn.Module | None = None,
) -> list[dict[str, Any]]:
    """Prompted-digit accuracy on prompts that no training caption used, one row per template."""
    classifier = classifier or load_digit_classifier()
    rows = []
    for template in templates:
        prompts = digit_prompts(template, per_digit)
        x, _ = _sample(ckpt, prompts, guidance_scale, steps, seed)
        acc = prompted_digit_accuracy(x, prompts, classifier)
        rows.append({"template": template, "accuracy": acc["accuracy"]})
    return rows


def text_report(
    ckpt: Checkpoint,
    *,
    guidance_scales: Sequence[float] = (1.0, 2.0, 3.0, 5.0),
    guidance_scale: float | None = None,
    per_digit: int = 20,
    steps: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    """All of Part II's measurements of a text-conditional checkpoint, as a JSON-ready dict.

    The attribute and paraphrase measurements use ``guidance_scale`` (default: the model
    card's), with ``per_digit // 2`` samples per digit and prompt. Sampling follows the card's
    defaults; where the card clips the predicted clean image, the digit accuracy at the
    default scale is also measured without clipping (``without_clip_x0``).
    """
    if ckpt.card.get("conditioning") != "text":
        raise ValueError(f"{ckpt.name!r} is not text-conditional")
    classifier = load_digit_classifier()
    w = guidance_scale if guidance_scale is not None else ckpt.card["sampling"]["guidance_scale"]
    start = time.perf_counter()
    half = max(1, per_digit // 2)
    synonyms = [ATTRIBUTE_SYNONYMS[a] for a in ("thin", "thick", "slanted")]
    report = {
        "checkpoint": ckpt.name,
        "text_encoder": ckpt.model.config.text_encoder,
        "sampler": f"ddim, {steps} steps, eta 0",
        "classifier": "mnist-classifier",
        "guidance_sweep": guidance_sweep(
            ckpt,
            guidance_scales,
            per_digit=per_digit,
            steps=steps,
            seed=seed,
            classifier=classifier,
        ),
        "guidance_scale": w,
        "attributes": attribute_response(
            ckpt, w, per_digit=half, steps=steps, seed=seed, classifier=classifier
        ),
        "attribute_synonyms": attribute_response(
            ckpt, w, words=synonyms, per_digit=half, steps=steps, seed=seed, classifier=classifier
        ),
        "paraphrases": paraphrase_accuracy(
            ckpt, w, per_digit=half, steps=steps, seed=seed, classifier=classifier
        ),
    }
    if ckpt.card["sampling"].get("clip_x0", False):  # what the clipping default buys
        report["without_clip_x0"] = guidance_sweep(
            ckpt,
            [w],
            per_digit=per_digit,
            steps=steps,
            seed=seed,
            classifier=classifier,
            clip_x0=False,
        )
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report
