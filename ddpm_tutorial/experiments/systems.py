"""The measured experiments of Part IV's systems (4.2-4.4) and its closing comparison.

* :func:`part4_comparison`: the pixel text-to-image model of Part II and each miniature
  system (``mnist-sd``, ``mnist-unclip``, ``mnist-imagen``) side by side: FID, CLIP score,
  prompted-digit accuracy, parameters and seconds per 100 samples, each at its card's
  sampling defaults;
* :func:`latent_savings`: time per training step and per sample of a pixel model and a latent
  model, measured alternately in one process;
* :func:`thresholding`: Imagen's dynamic thresholding against static clipping and no limit at
  all, over guidance scales;
* :func:`unclip_priors`: unCLIP decoded through its diffusion prior, through the regression
  baseline, and with the caption's text embedding in place of an image embedding.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from ..checkpoints import Checkpoint, load_checkpoint
from ..losses import noise_prediction_loss
from ..metrics.classifier import load_digit_classifier
from ..metrics.clip_score import load_clip
from ..models import count_parameters
from ..systems import ImagenSystem, UnCLIPSystem
from ..systems.pipeline import draw_samples
from ..systems.unclip import scale_embeddings
from .scoring import (
    draw_at_defaults,
    generator_parameters,
    heldout_prompts,
    load_generator,
    score_samples,
)

__all__ = ["latent_savings", "part4_comparison", "thresholding", "unclip_priors"]


def part4_comparison(
    names: Sequence[str] = ("mnist-text", "mnist-sd", "mnist-unclip", "mnist-imagen"),
    *,
    num_samples: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Part IV's closing table: one row per model, each sampled at its own card's defaults.

    Every row uses the same held-out prompts and seed. ``seconds_per_100`` is the wall time of
    drawing the samples (text encoding, every stage and decoding included), per 100 samples.
    """
    prompts = heldout_prompts(num_samples, seed)
    judges = (load_clip(), load_digit_classifier())
    rows = []
    for name in names:
        gen = load_generator(name)
        start = time.perf_counter()
        x = draw_at_defaults(gen, prompts, seed)
        seconds = time.perf_counter() - start
        params = generator_parameters(gen)
        rows.append(
            {
                "model": name,
                "parameters": sum(params.values()),
                "parameters_by_part": params,
                **score_samples(x, prompts, clip=judges[0], classifier=judges[1]),
                "seconds_per_100": round(100 * seconds / num_samples, 1),
            }
        )
    return {
        "experiment": "part4-comparison",
        "num_samples": num_samples,
        "prompts": "captions of held-out digits",
        "sampling": "each model at its card's defaults (sampler, steps, guidance)",
        "rows": rows,
    }


def _time_training_step(ckpt: Checkpoint, batch: int, seed: int) -> float:
    """Seconds of one optimizer step (forward, backward, AdamW) on a random batch."""
    model = ckpt.model
    model.train().requires_grad_(True)
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    prompts = heldout_prompts(batch, seed)
    cond = model.encode_prompts(prompts)  # type: ignore[operator]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    start = time.perf_counter()
    loss = noise_prediction_loss(
        model, x, ckpt.schedule, cond=cond, cond_drop_prob=0.1, generator=g
    )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    seconds = time.perf_counter() - start
    model.eval().requires_grad_(False)
    return seconds


def latent_savings(
    pixel: str = "mnist-text",
    latent: str = "mnist-sd",
    *,
    batch_size: int = 64,
    num_samples: int = 50,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """What the latent space saves: time per training step and per sample, pixel vs latent.

    The two models are timed alternately in one process (``repeats`` rounds; the median is
    reported), so a drift in the machine's speed touches both alike. A training step is one
    AdamW step on ``batch_size`` examples (the latent model's examples are latents: the
    autoencoder ran once, before training); sampling is DDIM at each card's steps and
    guidance, the latent model's time including the decoder.
    """
    models = {"pixel": load_checkpoint(pixel), "latent": load_checkpoint(latent)}
    prompts = heldout_prompts(num_samples, seed)
    times: dict[str, dict[str, list[float]]] = {k: {"train": [], "sample": []} for k in models}
    for r in range(repeats):
        for key, ckpt in models.items():
            times[key]["train"].append(_time_training_step(ckpt, batch_size, seed + r))
            start = time.perf_counter()
            draw_samples(ckpt, num_samples, prompt=prompts, seed=seed + r)
            times[key]["sample"].append((time.perf_counter() - start) / num_samples)
    rows = []
    for key, ckpt in models.items():
        cfg = ckpt.model.config
        rows.append(
            {
                "model": ckpt.name,
                "space": key,
                "denoiser_input": [cfg.in_channels, cfg.image_size, cfg.image_size],
                "numbers_per_example": cfg.in_channels * cfg.image_size**2,
                "parameters": count_parameters(ckpt.model),
                "seconds_per_train_step": round(statistics.median(times[key]["train"]), 4),
                "seconds_per_sample": round(statistics.median(times[key]["sample"]), 4),
            }
        )
    pix, lat = rows
    return {
        "experiment": "latent-savings",
        "batch_size": batch_size,
        "num_samples": num_samples,
        "repeats": repeats,
        "rows": rows,
        "train_step_speedup": round(
            pix["seconds_per_train_step"] / lat["seconds_per_train_step"], 2
        ),
        "sampling_speedup": round(pix["seconds_per_sample"] / lat["seconds_per_sample"], 2),
    }


def thresholding(
    system: str = "mnist-imagen",
    guidance_scales: Sequence[float] = (1.0, 3.0, 8.0, 15.0),
    *,
    percentile: float = 0.95,
    num_samples: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Imagen's base model at rising guidance: no limit, static clipping, dynamic thresholding.

    Scored on the base model's 14x14 samples upsampled by the system's super-resolution
    model, so that the measures are those of the whole cascade. ``saturated`` is the fraction
    of pixels of the 14x14 samples at or beyond +-0.98 (the washed-out look of high guidance).
    """
    gen = load_generator(system)
    if not isinstance(gen, ImagenSystem):
        raise ValueError(f"{system!r} is not an Imagen system")
    prompts = heldout_prompts(num_samples, seed)
    judges = (load_clip(), load_digit_classifier())
    rows = []
    for w in guidance_scales:
        for method in ("none", "static", "dynamic"):
            low = gen.sample_low_res(
                prompts,
                num_samples,
                seed=seed,
                guidance_scale=w,
                limit=method,
                dynamic_threshold=percentile,
            )
            options = gen.sampling_options()
            high = gen.upsample(low, options, torch.Generator().manual_seed(seed + 1))
            rows.append(
                {
                    "guidance_scale": w,
                    "method": method,
                    "saturated": round(float((low.abs() >= 0.98).float().mean()), 4),
                    "out_of_range": round(float((low.abs() > 1.0).float().mean()), 4),
                    **score_samples(high, prompts, clip=judges[0], classifier=judges[1]),
                }
            )
    return {
        "experiment": "thresholding",
        "system": system,
        "percentile": percentile,
        "num_samples": num_samples,
        "rows": rows,
    }


def unclip_priors(
    system: str = "mnist-unclip",
    regression: str = "mnist-unclip-prior-regression",
    *,
    num_samples: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """unCLIP's images through three routes from the caption to the decoder's embedding.

    ``diffusion``: the system's diffusion prior; ``regression``: the baseline prior, one
    embedding per caption; ``text``: no prior at all, the caption's own CLIP text embedding
    handed to the decoder as if it were an image embedding (what the paper's sec. 5.1
    compares too).
    """
    gen = load_generator(system)
    if not isinstance(gen, UnCLIPSystem):
        raise ValueError(f"{system!r} is not an unCLIP system")
    prompts = heldout_prompts(num_samples, seed)
    judges = (load_clip(), load_digit_classifier())
    clip_model = gen.parts["clip"].model
    text = scale_embeddings(clip_model.encode_prompts(prompts))  # type: ignore[operator]
    reg = load_checkpoint(regression).model
    routes = {
        "diffusion": gen.image_embeddings(prompts, num_samples, seed=seed),
        "regression": torch.nn.functional.normalize(reg(text), dim=1) * text.shape[1] ** 0.5,
        "text": text,
    }
    rows = []
    for route, z in routes.items():
        x = gen.decode(z, torch.Generator().manual_seed(seed + 1))
        rows.append(
            {"prior": route, **score_samples(x, prompts, clip=judges[0], classifier=judges[1])}
        )
    return {
        "experiment": "unclip-priors",
        "system": system,
        "regression": regression,
        "num_samples": num_samples,
        "rows": rows,
    }
