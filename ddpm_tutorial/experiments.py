"""The measured experiments of Part IV (4.1.1.2), at MNIST scale.

* :func:`guidance_tradeoff`: FID against CLIP score over guidance scales, the curve of
  GLIDE (Nichol et al. 2022, Fig. 6) and Imagen (Saharia et al. 2022, Fig. A.11): more
  guidance buys agreement with the prompt (CLIP score) at the price of diversity and
  realism (FID).
* :func:`encoder_vs_denoiser`: Imagen's finding (Sec. 4.4, Fig. 4) that the text encoder
  matters more than the size of the denoiser, measured on four text-to-image models: two
  text encoders (trained from scratch on our captions; the frozen pretrained MiniLM) by two
  denoiser sizes.

Part IV's closing chapters add:

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

All sample from prompts taken from the captions of the held-out digits (as the papers take
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
    "latent_savings",
    "load_experiment",
    "load_generator",
    "part4_comparison",
    "score_samples",
    "thresholding",
    "unclip_priors",
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


# ---------------------------------------------------------------------------- Part IV, 4.2-4.4
def load_generator(name: str) -> Any:
    """A text-to-image checkpoint or a system (:func:`~ddpm_tutorial.systems.load_system`)."""
    from .systems import find_system_card, load_system

    return load_system(name) if find_system_card(name) is not None else load_checkpoint(name)


def generator_parameters(gen: Any) -> dict[str, int]:
    """Parameters used at sampling time, by part (a frozen pretrained encoder included)."""
    from .systems import ImagenSystem, UnCLIPSystem

    if isinstance(gen, (ImagenSystem, UnCLIPSystem)):
        parts = {role: int(p.card["model"]["parameters"]) for role, p in gen.parts.items()}
        if gen.card.get("frozen_parameters"):
            parts["frozen_text_encoder"] = int(gen.card["frozen_parameters"])
        return parts
    parts = {"denoiser": count_parameters(gen.model)}
    if getattr(gen.model.config, "text_encoder", None) == "minilm":
        from .text.pretrained import load_minilm

        parts["frozen_text_encoder"] = count_parameters(load_minilm())
    if "latent" in gen.card:
        from .latents import load_autoencoder

        parts["autoencoder"] = count_parameters(load_autoencoder(gen.card["latent"]["autoencoder"])[0])
    return parts


def _draw(gen: Any, prompts: list[str], seed: int, batch_size: int = 100) -> torch.Tensor:
    """Samples of a checkpoint or a system at its card's sampling defaults."""
    from .systems import ImagenSystem, UnCLIPSystem

    out = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        if isinstance(gen, (ImagenSystem, UnCLIPSystem)):
            out.append(gen.sample(batch, len(batch), seed=seed + start))
        else:
            out.append(draw_samples(gen, len(batch), prompt=batch, seed=seed + start))
    return torch.cat(out)


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
        x = _draw(gen, prompts, seed)
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
    from .losses import noise_prediction_loss

    model = ckpt.model
    model.train().requires_grad_(True)
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    prompts = heldout_prompts(batch, seed)
    cond = model.encode_prompts(prompts)  # type: ignore[operator]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    start = time.perf_counter()
    loss = noise_prediction_loss(model, x, ckpt.schedule, cond=cond, cond_drop_prob=0.1, generator=g)
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
    import statistics

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
        "train_step_speedup": round(pix["seconds_per_train_step"] / lat["seconds_per_train_step"], 2),
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
    from .systems import ImagenSystem

    gen = load_generator(system)
    if not isinstance(gen, ImagenSystem):
        raise ValueError(f"{system!r} is not an Imagen system")
    prompts = heldout_prompts(num_samples, seed)
    judges = (load_clip(), load_digit_classifier())
    rows = []
    for w in guidance_scales:
        for method in ("none", "static", "dynamic"):
            low = gen.sample_low_res(
                prompts, num_samples, seed=seed, guidance_scale=w, limit=method,
                dynamic_threshold=percentile,
            )
            o = gen._defaults()
            high = gen._upsample(low, o, torch.Generator().manual_seed(seed + 1))
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
    from .systems import UnCLIPSystem
    from .unclip import scale_embeddings

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
        rows.append({"prior": route, **score_samples(x, prompts, clip=judges[0], classifier=judges[1])})
    return {
        "experiment": "unclip-priors",
        "system": system,
        "regression": regression,
        "num_samples": num_samples,
        "rows": rows,
    }
