"""From a loaded checkpoint to samples, with the defaults its model card records.

This is what ``python -m ddpm_tutorial sample`` runs: it picks the sampler, the number of
steps and the guidance scale from the card unless told otherwise, and builds the condition
(a digit label for a class-conditional model, the encoded prompt for a text-conditional one).
A latent diffusion model's card names its autoencoder (``card["latent"]``): the sampler then
runs in the latent space and the autoencoder's decoder turns the final latents into images.

What a checkpoint draws depends on its network (:data:`SAMPLED_KINDS`):

==============================  ==============================================================
``unet``, ``text-unet``         images, (N, C, H, W)
``dit``, ``text-dit``           images, (N, C, H, W) (Part V's transformers)
``mlp``                         2-D toy points, (N, D)
``dalle``                       images from the first DALL-E's tokens, (N, 1, 28, 28)
==============================  ==============================================================

A part of a cascade (a super-resolution model, unCLIP's prior or decoder) is sampled through
its system (:func:`~ddpm_tutorial.systems.load_system`); a network that draws nothing (a
classifier, CLIP, an autoencoder) is refused with a sentence that says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..checkpoints import Checkpoint, CheckpointError, read_card, resolve_checkpoint
from ..flow_matching import FLOW_SOLVERS, FlowMatching, sample_flow
from ..models import model_kind
from ..models.dalle import DALLE
from ..ode_samplers import ODE_SAMPLERS
from ..reverse_process import at_precision, sample_ddim, sample_ddpm
from .latent_diffusion import decode_latents, load_autoencoder

__all__ = [
    "DENOISER_SAMPLERS",
    "FLOW_SAMPLERS",
    "SAMPLED_KINDS",
    "SYSTEM_PART_KINDS",
    "decode_with_card",
    "draw_samples",
    "repeat_condition",
    "sample_shape",
]

#: the network kinds :func:`draw_samples` draws from: images, 2-D points, DALL-E's digits
SAMPLED_KINDS = ("unet", "text-unet", "dit", "text-dit", "mlp", "dalle")
#: the samplers of a noise-predicting (DDPM-trained) checkpoint: Algorithm 2, DDIM, and the
#: probability-flow ODE's solvers (:mod:`~ddpm_tutorial.ode_samplers`)
DENOISER_SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", *ODE_SAMPLERS)
#: the ODE solvers of a flow-matching checkpoint (``schedule.kind == "flow-matching"``)
FLOW_SAMPLERS: tuple[str, ...] = FLOW_SOLVERS
#: network kinds that only work as a part of a system (a cascade's stage, unCLIP's prior)
SYSTEM_PART_KINDS = ("sr-unet", "super-res", "diffusion-prior", "regression-prior")


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


def sample_shape(config: Any, batch_size: int) -> tuple[int, ...]:
    """The shape of a batch drawn from a denoiser with network config ``config``.

    Args:
        config: the network's config: one with ``data_dim`` (the MLP of the 2-D toys) or one
            with ``in_channels`` and ``image_size`` (the UNets).
        batch_size: B, the number of samples.

    Returns:
        ``(B, D)`` for points, ``(B, C, H, W)`` with ``H = W = image_size`` for images.
    """
    if hasattr(config, "data_dim"):
        return (batch_size, int(config.data_dim))
    if hasattr(config, "in_channels") and hasattr(config, "image_size"):
        size = int(config.image_size)
        return (batch_size, int(config.in_channels), size, size)
    raise ValueError(
        f"cannot tell the sample shape of a {type(config).__name__}: it has neither data_dim "
        "nor in_channels and image_size"
    )


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
    """Draw ``num_samples`` samples from ``ckpt``, float32 on the CPU, not clipped.

    Images have shape (N, C, H, W) and lie in [-1, 1] up to what the model gets wrong; for a
    latent model they are the decoded latents (the decoder's output). The 2-D toys' points
    have shape (N, D). The first DALL-E (``mnist-dalle``) draws its 49 image tokens one by one
    at the card's ``temperature`` and ``top_k`` and decodes them; only ``prompt``, ``seed``
    and ``batch_size`` apply to it.

    ``prompt`` is one prompt for every sample, or a list of ``num_samples`` prompts, one per
    sample (the text is encoded once per batch). Every option left at None takes the model
    card's ``sampling`` default; ``clip_x0`` (clip the predicted clean image to [-1, 1] at
    each step) is off unless the card or the caller turns it on; ``dynamic_threshold`` (the
    percentile of Imagen's dynamic thresholding, DDIM only) likewise. ``precision`` is the
    samplers' (``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"auto"``; see :func:`~ddpm_tutorial.reverse_process.at_precision`).

    Raises:
        ValueError: for an unknown sampler, a label the model does not take, a prompt
            given to a model without a text encoder, a part of a system, or a network that
            draws nothing (a classifier, CLIP, an autoencoder).
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    kind = model_kind(ckpt.model)
    if kind in SYSTEM_PART_KINDS:
        raise ValueError(
            f"{ckpt.name!r} is a {kind!r} network, a part of a cascade: sample the system it "
            "belongs to (see ddpm_tutorial.systems)"
        )
    if kind not in SAMPLED_KINDS:
        raise ValueError(
            f"{ckpt.name!r} is a {kind!r} network, which draws no samples: sample takes a "
            f"generative network ({', '.join(SAMPLED_KINDS)}) or a system"
        )
    if isinstance(ckpt.model, DALLE):
        options = {
            "--sampler": sampler,
            "--steps": steps,
            "--eta": eta,
            "--label": label,
            "--guidance-scale": guidance_scale,
            "--clip-x0": clip_x0,
            "dynamic_threshold": dynamic_threshold,
        }
        given = [flag for flag, value in options.items() if value is not None]
        if precision != "fp32":
            given.append("--precision")
        if given:
            raise ValueError(
                f"{given[0]} does not apply to {ckpt.name!r}, an autoregressive transformer "
                "(the first DALL-E): it takes --prompt, --seed and --batch-size"
            )
        return _draw_dalle(ckpt, num_samples, prompt, seed=seed, batch_size=batch_size)
    card = ckpt.card
    defaults = card.get("sampling", {})
    is_flow = isinstance(ckpt.schedule, FlowMatching)
    sampler = sampler or defaults.get("sampler", "euler" if is_flow else "ddim")
    known = FLOW_SAMPLERS if is_flow else DENOISER_SAMPLERS
    if sampler not in known:
        what = "a flow-matching model" if is_flow else "a noise-predicting model"
        raise ValueError(
            f"unknown sampler {sampler!r} for {ckpt.name!r}, {what}; choose one of {', '.join(known)}"
        )
    if sampler == "ddpm" and (steps is not None or eta is not None):
        raise ValueError(
            "--steps and --eta apply to the ddim sampler; ddpm always takes all T steps"
        )
    if sampler != "ddim" and eta is not None:
        raise ValueError(f"--eta applies to the ddim sampler; {sampler!r} is deterministic")
    steps = steps if steps is not None else int(defaults.get("steps", 50))
    eta = eta if eta is not None else float(defaults.get("eta", 0.0))
    clip_x0 = clip_x0 if clip_x0 is not None else bool(defaults.get("clip_x0", False))
    if dynamic_threshold is None and defaults.get("dynamic_threshold") is not None:
        dynamic_threshold = float(defaults["dynamic_threshold"])
    if dynamic_threshold is not None and sampler != "ddim":
        raise ValueError("dynamic_threshold applies to the ddim sampler")
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
        shape = sample_shape(config, B)
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
        if is_flow:
            x = sample_flow(
                at_precision(ckpt.model, kwargs.pop("precision"), device),
                ckpt.schedule,  # type: ignore[arg-type]
                shape,
                num_steps=steps,
                solver=sampler,  # type: ignore[arg-type]
                **kwargs,
            )
        elif sampler == "ddpm":
            x = sample_ddpm(ckpt.model, ckpt.schedule, shape, **kwargs)
        elif sampler in ODE_SAMPLERS:
            x = ODE_SAMPLERS[sampler](ckpt.model, ckpt.schedule, shape, num_steps=steps, **kwargs)
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


def _draw_dalle(
    ckpt: Checkpoint,
    num_samples: int,
    prompt: str | Sequence[str] | None,
    *,
    seed: int,
    batch_size: int,
) -> Tensor:
    """Digits (N, 1, 28, 28) from the first DALL-E, at its card's temperature and top-k."""
    if prompt is None:
        raise ValueError(f"{ckpt.name!r} is text-conditional: pass --prompt TEXT")
    prompts = [prompt] * num_samples if isinstance(prompt, str) else list(prompt)
    if len(prompts) != num_samples:
        raise ValueError(
            f"{len(prompts)} prompts for {num_samples} samples; give one or one per sample"
        )
    defaults = ckpt.card.get("sampling", {})
    top_k = defaults.get("top_k")
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, num_samples, batch_size):
        x = ckpt.model.generate(  # type: ignore[operator]
            prompts[start : start + batch_size],
            temperature=float(defaults.get("temperature", 1.0)),
            top_k=int(top_k) if top_k is not None else None,
            generator=g,
        )
        out.append(x.float().cpu())
    return torch.cat(out)
