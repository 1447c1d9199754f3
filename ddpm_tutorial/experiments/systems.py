"""The measured experiments of Part IV's systems (4.2-4.4), its closing comparison, and the cards.

* :func:`part4_comparison`: the pixel text-to-image model of Part II and each miniature
  system (``mnist-sd``, ``mnist-unclip``, ``mnist-imagen``) side by side, each at its card's
  sampling defaults: every measure of
  :func:`~ddpm_tutorial.experiments.scoring.score_samples`, parameters and seconds per 100
  samples;
* :func:`card_defaults`: every shipped generator at its card's defaults, with memorisation
  and the book's first FID as well: the numbers its model card carries;
* :func:`latent_savings`: time per training step and per sample of a pixel model and a latent
  model, measured alternately in one process, and the quality of the samples timed;
* :func:`thresholding`: Imagen's dynamic thresholding at several percentiles against static
  clipping and no limit at all, over guidance scales;
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
from ..models import count_parameters
from ..systems import ImagenSystem, UnCLIPSystem
from ..systems.unclip import scale_embeddings
from .generators import (
    DEFAULT_PROTOCOL,
    Protocol,
    draw_at_defaults,
    generator_parameters,
    is_prompted,
    load_generator,
    measure,
    sampling_of,
    sweep,
)
from .ranking import ranking, recommend_default
from .scoring import heldout_pairs, heldout_prompts, load_judges, score_samples

__all__ = [
    "SHIPPED_GENERATORS",
    "card_defaults",
    "latent_savings",
    "part4_comparison",
    "threshold_settings",
    "thresholding",
    "unclip_priors",
]

#: every shipped checkpoint or system that draws digits
SHIPPED_GENERATORS = (
    "mnist-ddpm",
    "mnist-latent",
    "mnist-text",
    "mnist-text-small",
    "mnist-text-minilm",
    "mnist-text-minilm-small",
    "mnist-sd",
    "mnist-dalle",
    "mnist-imagen",
    "mnist-unclip",
)
#: latent-savings' default: 5 rounds of 100 samples
_SAVINGS_PROTOCOL = Protocol(num_samples=500)
_PROMPTS = "captions of held-out digits, one per sample (heldout_pairs)"


def _rows_at_defaults(
    names: Sequence[str], protocol: Protocol, **score_options: Any
) -> list[dict[str, Any]]:
    """One row per generator at its card's defaults: parameters, time and every measure."""
    judges = load_judges()
    rows = []
    for name in names:
        gen = load_generator(name)
        prompted = is_prompted(gen)
        params = generator_parameters(gen)
        row = measure(gen, protocol, prompted=prompted, judges=judges, **score_options)
        rows.append(
            {
                "model": gen.name,
                "prompts": _PROMPTS if prompted else "none (unconditional)",
                "parameters": sum(params.values()),
                "parameters_by_part": params,
                "seconds_per_100": round(100 * row["seconds"] / protocol.num_samples, 1),
                **row,
            }
        )
    return rows


def part4_comparison(
    names: Sequence[str] = ("mnist-text", "mnist-sd", "mnist-unclip", "mnist-imagen"),
    *,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """Part IV's closing table: one row per model, each sampled at its own card's defaults.

    Every row uses the same held-out prompts and seeds. ``seconds_per_100`` is the wall time of
    drawing the samples (text encoding, every stage and decoding included), per 100 samples.
    ``ranking`` says which models the intervals separate, measure by measure. Each row also
    carries memorisation and the first features' FID, as :func:`card_defaults` does, so the
    cards of these four models read their numbers from this table.
    """
    rows = _rows_at_defaults(names, protocol, memorise=True, extra_fid_features=("mnist-features",))
    return {
        "experiment": "part4-comparison",
        "num_samples": protocol.num_samples,
        "prompts": _PROMPTS,
        "sampling": "each model at its card's defaults (sampler, steps, guidance)",
        "rows": rows,
        "ranking": ranking(rows, [r["model"] for r in rows]),
    }


def card_defaults(
    names: Sequence[str] = SHIPPED_GENERATORS, *, protocol: Protocol = DEFAULT_PROTOCOL
) -> dict[str, Any]:
    """Every shipped generator at its card's defaults: the metrics its model card carries.

    As :func:`part4_comparison`, for any generators (unconditional ones draw
    ``protocol.num_samples`` without prompts), with memorisation against the training digits
    (:func:`~ddpm_tutorial.metrics.memorisation.memorisation`) and the FID of the book's first
    features (``fid_mnist-features``, for comparison with the numbers it replaced).
    """
    rows = _rows_at_defaults(names, protocol, memorise=True, extra_fid_features=("mnist-features",))
    return {
        "experiment": "card-defaults",
        "num_samples": protocol.num_samples,
        "prompts": _PROMPTS + "; none for an unconditional model",
        "sampling": "each model at its card's defaults",
        "rows": rows,
        "ranking": ranking(rows, [r["model"] for r in rows]),
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
    repeats: int = 5,
    protocol: Protocol = _SAVINGS_PROTOCOL,
) -> dict[str, Any]:
    """What the latent space saves: time per training step and per sample, pixel vs latent.

    The two models are timed alternately in one process (``repeats`` rounds; the median is
    reported), so a drift in the machine's speed touches both alike. A training step is one
    AdamW step on ``batch_size`` examples (the latent model's examples are latents: the
    autoencoder ran once, before training); sampling is DDIM at each card's defaults, the
    latent model's time including the decoder. Each round samples the next
    ``protocol.num_samples // repeats`` held-out captions, so every sample timed is also
    scored (``quality``): the saving's price in quality costs nothing more to measure.
    """
    per_round = protocol.num_samples // repeats
    if per_round < 1:
        raise ValueError(f"{protocol.num_samples} samples cannot fill {repeats} rounds")
    models = {"pixel": load_checkpoint(pixel), "latent": load_checkpoint(latent)}
    real, prompts = heldout_pairs(per_round * repeats, protocol.seed)
    times: dict[str, dict[str, list[float]]] = {k: {"train": [], "sample": []} for k in models}
    samples: dict[str, list[torch.Tensor]] = {k: [] for k in models}
    for r in range(repeats):
        part = prompts[r * per_round : (r + 1) * per_round]
        for key, ckpt in models.items():
            times[key]["train"].append(_time_training_step(ckpt, batch_size, protocol.seed + r))
            start = time.perf_counter()
            x = draw_at_defaults(ckpt, part, protocol.seed + r * per_round)
            times[key]["sample"].append((time.perf_counter() - start) / per_round)
            samples[key].append(x)  # type: ignore[arg-type]
    judges = load_judges()
    rows = []
    for key, ckpt in models.items():
        cfg = ckpt.model.config
        quality = score_samples(
            torch.cat(samples[key]),
            prompts,
            real=real,
            judges=judges,
            seed=protocol.seed,
            resamples=protocol.resamples,
        )
        rows.append(
            {
                "model": ckpt.name,
                "space": key,
                "denoiser_input": [cfg.in_channels, cfg.image_size, cfg.image_size],
                "numbers_per_example": cfg.in_channels * cfg.image_size**2,
                "parameters": count_parameters(ckpt.model),
                "seconds_per_train_step": round(statistics.median(times[key]["train"]), 4),
                "seconds_per_sample": round(statistics.median(times[key]["sample"]), 4),
                "sampling": sampling_of(ckpt),
                "quality": quality,
            }
        )
    pix, lat = rows
    return {
        "experiment": "latent-savings",
        "batch_size": batch_size,
        "num_samples": per_round * repeats,
        "samples_per_round": per_round,
        "repeats": repeats,
        "prompts": _PROMPTS,
        "rows": rows,
        "train_step_speedup": round(
            pix["seconds_per_train_step"] / lat["seconds_per_train_step"], 2
        ),
        "sampling_speedup": round(pix["seconds_per_sample"] / lat["seconds_per_sample"], 2),
        "quality_ranking": ranking([r["quality"] for r in rows], [r["model"] for r in rows]),
    }


def threshold_settings(
    guidance_scales: Sequence[float],
    limits: Sequence[str] = ("none", "static", "dynamic"),
    percentiles: Sequence[float] = (0.9, 0.95, 0.99, 0.995),
) -> list[dict[str, Any]]:
    """The grid of Imagen settings: every scale with every limit (dynamic: every percentile)."""
    grid = []
    for w in guidance_scales:
        for limit in limits:
            for p in percentiles if limit == "dynamic" else (None,):
                s: dict[str, Any] = {"guidance_scale": float(w), "limit": limit}
                if p is not None:
                    s["dynamic_threshold"] = float(p)
                grid.append(s)
    return grid


def thresholding(
    system: str = "mnist-imagen",
    guidance_scales: Sequence[float] = (1.0, 3.0, 8.0, 15.0),
    *,
    limits: Sequence[str] = ("none", "static", "dynamic"),
    percentiles: Sequence[float] = (0.9, 0.95, 0.99, 0.995),
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """Imagen's base model at rising guidance: no limit, static clipping, dynamic thresholding.

    Dynamic thresholding (Saharia et al. 2022, sec. 2.3) clips the predicted clean image at
    s, the ``dynamic_threshold`` percentile of its absolute pixel values (at least 1), and
    divides by s; Imagen uses the 99.5th percentile (0.995). Each row names the percentile it
    used (``sampling.dynamic_threshold``, only under ``limit: dynamic``). The samples are the
    whole cascade's (the base model's 14x14 samples upsampled by the system's
    super-resolution model); ``saturated`` is the share of the 14x14 pixels at or beyond
    +-0.98 (the washed-out look of high guidance).

    Returns:
        ``rows``; ``ranking`` over all rows and ``ranking_by_scale`` (the limits compared at
        each scale); ``recommended_default`` for the system's card.
    """
    gen = load_generator(system)
    if not isinstance(gen, ImagenSystem):
        raise ValueError(f"{system!r} is not an Imagen system")
    rows = sweep(gen, threshold_settings(guidance_scales, limits, percentiles), protocol)
    labels = [r["label"] for r in rows]
    by_scale = {}
    for w in guidance_scales:
        same = [r for r in rows if r["sampling"]["guidance_scale"] == float(w)]
        by_scale[f"w={w:g}"] = ranking(same, [r["label"] for r in same])
    current = sampling_of(gen)
    return {
        "experiment": "thresholding",
        "system": system,
        "percentiles": [float(p) for p in percentiles],
        "num_samples": protocol.num_samples,
        "prompts": _PROMPTS,
        "current_sampling": current,
        "rows": rows,
        "ranking": ranking(rows, labels),
        "ranking_by_scale": by_scale,
        "recommended_default": recommend_default(rows, labels, current),
    }


def _decode_route(
    gen: UnCLIPSystem, embed: Any, num_samples: int, seed: int, batch_size: int = 100
) -> torch.Tensor:
    """Images from a route's embeddings, batched and seeded as the system's ``sample``."""
    out = []
    for start in range(0, num_samples, batch_size):
        z = embed(start, min(batch_size, num_samples - start))
        out.append(gen.decode(z, torch.Generator().manual_seed(seed + start + 1)))
    return torch.cat(out)


def unclip_priors(
    system: str = "mnist-unclip",
    regression: str = "mnist-unclip-prior-regression",
    *,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """unCLIP's images through three routes from the caption to the decoder's embedding.

    ``diffusion``: the system's diffusion prior (the same images as the system at its card's
    defaults); ``regression``: the baseline prior, one embedding per caption; ``text``: no
    prior at all, the caption's own CLIP text embedding handed to the decoder as if it were
    an image embedding (what the paper's sec. 5.1 compares too). The decoder and upsampler
    run at the card's defaults in every route.
    """
    gen = load_generator(system)
    if not isinstance(gen, UnCLIPSystem):
        raise ValueError(f"{system!r} is not an unCLIP system")
    real, prompts = protocol.pairs()
    seed, num_samples = protocol.seed, protocol.num_samples
    judges = load_judges()
    clip_model = gen.parts["clip"].model
    reg = load_checkpoint(regression).model

    def text(start: int, B: int) -> torch.Tensor:
        batch = prompts[start : start + B]
        return scale_embeddings(clip_model.encode_prompts(batch))  # type: ignore[operator]

    routes = {
        "diffusion": lambda start, B: gen.image_embeddings(
            prompts[start : start + B], B, seed=seed + start
        ),
        "regression": lambda start, B: (
            torch.nn.functional.normalize(reg(text(start, B)), dim=1)
            * text(start, B).shape[1] ** 0.5
        ),
        "text": text,
    }
    rows = []
    for route, embed in routes.items():
        begin = time.perf_counter()
        with torch.no_grad():
            x = _decode_route(gen, embed, num_samples, seed)
        seconds = round(time.perf_counter() - begin, 1)
        scores = score_samples(
            x, prompts, real=real, judges=judges, seed=seed, resamples=protocol.resamples
        )
        rows.append({"prior": route, "seconds": seconds, "sampling": sampling_of(gen), **scores})
    return {
        "experiment": "unclip-priors",
        "system": system,
        "regression": regression,
        "num_samples": num_samples,
        "prompts": _PROMPTS,
        "rows": rows,
        "ranking": ranking(rows, [r["prior"] for r in rows]),
    }
