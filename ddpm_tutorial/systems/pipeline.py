"""From a loaded checkpoint to samples, with the defaults its model card records.

This is what ``python -m ddpm_tutorial sample`` runs: it picks the sampler, the number of
steps and the guidance scale from the card unless told otherwise, and builds the condition
(a digit label for a class-conditional model, the encoded prompt for a text-conditional one).
A latent diffusion model's card names its autoencoder (``card["latent"]``): the sampler then
runs in the latent space and the autoencoder's decoder turns the final latents into images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..checkpoints import Checkpoint, CheckpointError, read_card, resolve_checkpoint
from ..reverse_process import sample_ddim, sample_ddpm
from .latent_diffusion import decode_latents, load_autoencoder

__all__ = ["decode_with_card", "draw_samples", "repeat_condition"]


def decode_with_card(card: Mapping[str, Any], latents: Tensor) -> Tensor:
    """Decode scaled latents with the autoencoder a latent model's card names (sha256 checked)."""
    info = card["latent"]
    autoencoder, scale = load_autoencoder(info["autoencoder"])

    ae_card = read_card(resolve_checkpoint(info["autoencoder"])[1])
    expected = info.get("autoencoder_sha256")
    if expected and ae_card.get("sha256") != expected:
        raise CheckpointError(
            f"{card.get('name')!r} was trained on the latents of an autoencoder with sha256 "
            f"{expected[:12]}..., but {info['autoencoder']!r} has {str(ae_card.get('sha256'))[:12]}..."
        )
    return decode_latents(autoencoder, latents, float(info.get("scale", scale)))


def repeat_condition(cond: Any, n: int) -> Any:
    """A condition encoded for one prompt, repeated for a batch of ``n`` (tensor or dict)."""
    if isinstance(cond, Mapping):
        return {k: v.expand(n, *v.shape[1:]) for k, v in cond.items()}
    return cond.expand(n, *cond.shape[1:])


def draw_samples(
    ckpt: Checkpoint,
    num_samples: int,
    *,
    sampler: str | None = None,
    steps: int | None = None,
    eta: float | None = None,
    seed: int = 0,
    label: int | None = None,
    prompt: str | Sequence[str] | None = None,
    guidance_scale: float | None = None,
    clip_x0: bool | None = None,
    dynamic_threshold: float | None = None,
    batch_size: int = 250,
    precision: str = "fp32",
) -> Tensor:
    """Draw ``num_samples`` images from ``ckpt``: float32, shape (N, C, H, W), in [-1, 1] (not clipped).

    For a latent model the images are the decoded latents (the decoder's output, not clipped).

    ``prompt`` is one prompt for every sample, or a list of ``num_samples`` prompts, one per
    sample (the text is encoded once per batch). Every option left at None takes the model
    card's ``sampling`` default; ``clip_x0`` (clip the predicted clean image to [-1, 1] at
    each step) is off unless the card or the caller turns it on; ``dynamic_threshold`` (the
    percentile of Imagen's dynamic thresholding, DDIM only) likewise. ``precision`` is the
    samplers' (``"fp32"``, ``"bf16"`` or ``"auto"``; see :func:`~ddpm_tutorial.reverse_process.at_precision`).

    Raises:
        ValueError: for an unknown sampler, a label the model does not take, or a prompt
            given to a model without a text encoder.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    card = ckpt.card
    defaults = card.get("sampling", {})
    sampler = sampler or defaults.get("sampler", "ddim")
    if sampler not in ("ddpm", "ddim"):
        raise ValueError(f"unknown sampler {sampler!r}; choose ddpm or ddim")
    if sampler == "ddpm" and (steps is not None or eta is not None):
        raise ValueError(
            "--steps and --eta apply to the ddim sampler; ddpm always takes all T steps"
        )
    steps = steps if steps is not None else int(defaults.get("steps", 50))
    eta = eta if eta is not None else float(defaults.get("eta", 0.0))
    clip_x0 = clip_x0 if clip_x0 is not None else bool(defaults.get("clip_x0", False))
    if dynamic_threshold is None and defaults.get("dynamic_threshold") is not None:
        dynamic_threshold = float(defaults["dynamic_threshold"])
    if dynamic_threshold is not None and sampler != "ddim":
        raise ValueError("dynamic_threshold applies to the ddim sampler")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    conditioning = card.get("conditioning", "none")
    if conditioning in ("clip-image", "low-res"):
        raise ValueError(
            f"{ckpt.name!r} is conditioned on {conditioning!r}, a part of a cascade: sample the "
            "system it belongs to (see ddpm_tutorial.systems)"
        )
    if prompt is not None and conditioning != "text":
        raise ValueError(
            f"--prompt needs a text-conditional model; {ckpt.name!r} is conditioned on {conditioning!r}"
        )
    if conditioning == "text" and prompt is None:
        raise ValueError(f"{ckpt.name!r} is text-conditional: pass --prompt TEXT")
    if conditioning == "class":
        num_classes = ckpt.model.config.num_classes
        if label is None:
            raise ValueError(
                f"{ckpt.name!r} is class-conditional: pass --label in [0, {num_classes})"
            )
        if not 0 <= label < num_classes:
            raise ValueError(f"--label must lie in [0, {num_classes}); got {label}")
    elif label is not None:
        raise ValueError(
            f"--label needs a class-conditional model; {ckpt.name!r} is conditioned on {conditioning!r}"
        )
    w = guidance_scale if guidance_scale is not None else float(defaults.get("guidance_scale", 1.0))
    prompts: list[str] | None = None
    if prompt is not None:
        prompts = [prompt] * num_samples if isinstance(prompt, str) else list(prompt)
        if len(prompts) != num_samples:
            raise ValueError(
                f"{len(prompts)} prompts for {num_samples} samples; give one or one per sample"
            )
    if prompts is None and label is None and w != 1.0 and guidance_scale is not None:
        raise ValueError(
            f"--guidance-scale needs a condition (--label or --prompt); {ckpt.name!r} has none"
        )
    config = ckpt.model.config
    device = next(ckpt.model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, num_samples, batch_size):
        B = min(batch_size, num_samples - start)
        shape = (B, config.in_channels, config.image_size, config.image_size)
        kwargs: dict[str, Any] = {
            "generator": g,
            "device": device,
            "clip_x0": clip_x0,
            "precision": precision,
        }
        if label is not None:
            kwargs.update(
                cond=torch.full((B,), label, dtype=torch.long, device=device), guidance_scale=w
            )
        elif prompts is not None:
            batch_prompts = prompts[start : start + B]
            if len(set(batch_prompts)) == 1:  # encode once, repeat
                cond = repeat_condition(ckpt.model.encode_prompts(batch_prompts[:1]), B)  # type: ignore[operator]
            else:
                cond = ckpt.model.encode_prompts(batch_prompts)  # type: ignore[operator]
            kwargs.update(cond=cond, guidance_scale=w)
        if sampler == "ddpm":
            x = sample_ddpm(ckpt.model, ckpt.schedule, shape, **kwargs)
        else:
            x = sample_ddim(
                ckpt.model,
                ckpt.schedule,
                shape,
                num_steps=steps,
                eta=eta,
                dynamic_threshold=dynamic_threshold,
                **kwargs,
            )
        out.append(x.cpu())
    samples = torch.cat(out)
    if "latent" in card:
        samples = decode_with_card(card, samples)
    return samples
