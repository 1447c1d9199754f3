"""How every experiment samples and scores: held-out prompts, the three measures, the JSON.

All experiments sample from prompts taken from the captions of the held-out digits (as the
papers take theirs from MS-COCO's validation captions), score FID against the held-out digits
(:mod:`ddpm_tutorial.metrics.fid`), the CLIP score against the prompts
(:mod:`ddpm_tutorial.metrics.clip_score`) and the fraction the digit classifier labels as the
prompted digit. ``python -m ddpm_tutorial experiment ...`` writes the JSON that
:func:`load_experiment` reads back in the chapters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..checkpoints import Checkpoint, checkpoint_dirs, load_checkpoint
from ..metrics.classifier import load_digit_classifier, prompted_digit_accuracy
from ..metrics.clip_score import clip_score, load_clip
from ..metrics.fid import DEFAULT_FEATURES, fid
from ..models import count_parameters
from ..systems import ImagenSystem, UnCLIPSystem, find_system_card, load_system
from ..systems.clip import captioned_digits
from ..systems.latent_diffusion import load_autoencoder
from ..systems.pipeline import draw_samples
from ..text.pretrained import load_minilm

__all__ = [
    "draw_at_defaults",
    "generator_parameters",
    "heldout_prompts",
    "load_experiment",
    "load_generator",
    "sample_and_score",
    "score_samples",
    "text_encoder_parameters",
]


def load_experiment(name: str) -> dict[str, Any]:
    """The JSON an ``experiment`` command wrote to ``data/experiments/NAME.json``.

    Looked up beside each checkpoint folder (see
    :func:`~ddpm_tutorial.checkpoints.checkpoint_dirs`), so it is found in a source checkout,
    from a chapter's folder and in Colab (``$DDPM_TUTORIAL_DATA``).
    """
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
    features: str = DEFAULT_FEATURES,
) -> dict[str, float]:
    """FID (held-out digits), mean CLIP score and prompted-digit accuracy of one sample set.

    FID uses ``features`` (default ``mnist-style-features``; see
    :mod:`ddpm_tutorial.metrics.fid`).
    """
    return {
        "fid": round(fid(samples, features=features), 3),
        "clip_score": round(float(clip_score(clip or load_clip(), samples, prompts).mean()), 3),
        "prompted_digit_accuracy": prompted_digit_accuracy(
            samples, prompts, classifier or load_digit_classifier()
        )["accuracy"],
    }


def sample_and_score(
    ckpt: Checkpoint,
    prompts: list[str],
    w: float,
    steps: int,
    seed: int,
    judges: tuple[nn.Module, nn.Module],
) -> dict[str, Any]:
    """Samples of a checkpoint for ``prompts`` at guidance scale ``w``, scored; with the time."""
    start = time.perf_counter()
    x = draw_samples(ckpt, len(prompts), prompt=prompts, guidance_scale=w, steps=steps, seed=seed)
    seconds = time.perf_counter() - start
    clip, classifier = judges
    return {
        **score_samples(x, prompts, clip=clip, classifier=classifier),
        "seconds": round(seconds, 1),
    }


def text_encoder_parameters(ckpt: Checkpoint) -> dict[str, Any]:
    """A text-to-image checkpoint's text encoder (kind, parameters) and denoiser parameters."""
    model = ckpt.model
    encoder = getattr(model, "text_encoder", None)
    text_params = count_parameters(encoder) if encoder is not None else 0
    kind = model.config.text_encoder  # type: ignore[union-attr]
    if kind == "minilm":  # frozen and not stored in the checkpoint: count the loaded encoder
        text_params = count_parameters(load_minilm())
    return {
        "text_encoder": kind,
        "text_encoder_parameters": text_params,
        "denoiser_parameters": count_parameters(model)
        - (count_parameters(encoder) if encoder is not None else 0),
    }


def load_generator(name: str) -> Any:
    """A text-to-image checkpoint or a system (:func:`~ddpm_tutorial.systems.load_system`)."""
    return load_system(name) if find_system_card(name) is not None else load_checkpoint(name)


def generator_parameters(gen: Any) -> dict[str, int]:
    """Parameters used at sampling time, by part (a frozen pretrained encoder included)."""
    if isinstance(gen, (ImagenSystem, UnCLIPSystem)):
        parts = {role: int(p.card["model"]["parameters"]) for role, p in gen.parts.items()}
        if gen.card.get("frozen_parameters"):
            parts["frozen_text_encoder"] = int(gen.card["frozen_parameters"])
        return parts
    parts = {"denoiser": count_parameters(gen.model)}
    if getattr(gen.model.config, "text_encoder", None) == "minilm":
        parts["frozen_text_encoder"] = count_parameters(load_minilm())
    if "latent" in gen.card:
        parts["autoencoder"] = count_parameters(
            load_autoencoder(gen.card["latent"]["autoencoder"])[0]
        )
    return parts


def draw_at_defaults(
    gen: Any, prompts: list[str], seed: int, batch_size: int = 100
) -> torch.Tensor:
    """Samples of a checkpoint or a system at its card's sampling defaults, one per prompt."""
    out = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        if isinstance(gen, (ImagenSystem, UnCLIPSystem)):
            out.append(gen.sample(batch, len(batch), seed=seed + start))
        else:
            out.append(draw_samples(gen, len(batch), prompt=batch, seed=seed + start))
    return torch.cat(out)
