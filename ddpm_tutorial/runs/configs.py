"""The named training configs, sized by the profile.

:func:`get_config` returns a named config (``mnist``, ``mnist-text``, ``mnist-sd``, ``toy-moons``,
...; :data:`CONFIG_NAMES` lists them) at the sizes of a profile (``smoke``, ``cpu`` or ``full``;
see :mod:`ddpm_tutorial.runtime`). Every config is a :class:`~ddpm_tutorial.runs.config.TrainConfig`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..data.captions import caption_vocabulary
from ..data.toy2d import TOY_DATASETS
from ..models import (
    DiTConfig,
    MLPConfig,
    SuperResUNetConfig,
    TextDiTConfig,
    TextUNetConfig,
    UNetConfig,
)
from ..runtime import get_profile
from .config import TrainConfig

__all__ = ["CONFIG_NAMES", "get_config"]


# sizes per profile: (UNet fields, training fields)
_MNIST_SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "smoke": (
        dict(
            base_channels=8,
            channel_mults=(1, 2),
            num_res_blocks=1,
            attention_resolutions=(14,),
            num_heads=2,
        ),
        dict(
            batch_size=16,
            num_train_steps=20,
            num_train_images=256,
            log_every=5,
            checkpoint_every=10,
            warmup_steps=5,
        ),
    ),
    "cpu": (
        dict(base_channels=32, channel_mults=(1, 2, 2), num_res_blocks=1),
        dict(batch_size=64, num_train_steps=2000, learning_rate=1e-3, warmup_steps=100),
    ),
    "full": (
        dict(base_channels=64, channel_mults=(1, 2, 2), num_res_blocks=2),
        dict(
            batch_size=128,
            num_train_steps=20000,
            learning_rate=2e-4,
            ema_decay=0.9995,
            checkpoint_every=2000,
        ),
    ),
}

# the text encoder trained from scratch, per profile
_TEXT_SIZES: dict[str, dict[str, Any]] = {
    "smoke": dict(text_dim=16, text_layers=1, text_heads=2),
    "cpu": dict(text_dim=64, text_layers=2, text_heads=4),
    "full": dict(text_dim=128, text_layers=3, text_heads=4),
}

_TOY_STEPS = {"smoke": 200, "cpu": 3000, "full": 10000}


def _mnist(profile: str, conditioning: str = "none") -> TrainConfig:
    unet, train = _MNIST_SIZES[profile]
    extra = {"num_classes": 10} if conditioning == "class" else {}
    name = "mnist" if conditioning == "none" else "mnist-class"
    return TrainConfig(
        name=name, conditioning=conditioning, model=UNetConfig(**unet, **extra), **train
    )


def _mnist_text(profile: str, encoder: str) -> TrainConfig:
    """Text-to-image on captioned MNIST: the from-scratch transformer or the frozen MiniLM."""
    unet, train = _MNIST_SIZES[profile]
    if encoder == "transformer":
        text = dict(_TEXT_SIZES[profile], vocabulary=caption_vocabulary())
    else:
        text = dict(text_dim=384)
    model = TextUNetConfig(**unet, text_encoder=encoder, **text)
    name = "mnist-text" if encoder == "transformer" else "mnist-text-minilm"
    return TrainConfig(name=name, conditioning="text", model_kind="text-unet", model=model, **train)


def _mnist_flow(profile: str, conditioning: str = "none") -> TrainConfig:
    """Part V: mnist's network and training, with the flow-matching objective (Lipman et al.
    2023) and SD3's logit-normal times; the text model is mnist-text's network likewise."""
    base = _mnist(profile) if conditioning == "none" else _mnist_text(profile, "transformer")
    name = "mnist-flow" if conditioning == "none" else "mnist-flow-text"
    return dataclasses.replace(base, name=name, objective="flow", time_sampling="logit-normal")


# the transformer of mnist-dit per profile. Patches of 4 x 4 make a 7 x 7 grid of 49 tokens (the
# UNet's lowest resolution); at 96 wide and 6 deep it has the parameters of mnist's cpu UNet
# (1.04 M against 1.11 M) and costs about as much CPU time per training step (0.95x), where
# patches of 2 x 2 (196 tokens) cost 2.9x (python benchmarks/run.py --only backbones)
_DIT_SIZES: dict[str, dict[str, Any]] = {
    "smoke": dict(patch_size=4, hidden_dim=16, depth=2, num_heads=2),
    "cpu": dict(patch_size=4, hidden_dim=96, depth=6, num_heads=4),
    "full": dict(patch_size=2, hidden_dim=192, depth=8, num_heads=6),
}


def _mnist_dit(profile: str) -> TrainConfig:
    """Part V: a DiT (Peebles & Xie 2023) in mnist-flow's place: the same data, objective
    (flow matching, as Stable Diffusion 3 trains its MM-DiT), batch and learning rate."""
    base = _mnist_flow(profile)
    return dataclasses.replace(
        base, name="mnist-dit", model_kind="dit", model=DiTConfig(**_DIT_SIZES[profile])
    )


def _mnist_mmdit(profile: str) -> TrainConfig:
    """Part V: SD3's MM-DiT in miniature: mnist-dit's transformer with joint text-image
    attention, mnist-text's captions and text encoder trained with it, the flow objective."""
    text = dict(_TEXT_SIZES[profile], vocabulary=caption_vocabulary())
    return dataclasses.replace(
        _mnist_flow(profile, "text"),
        name="mnist-mmdit",
        model_kind="text-dit",
        model=TextDiTConfig(**_DIT_SIZES[profile], **text),
    )


# reflow of mnist-flow per profile: the student is the teacher's network (mnist-flow's cpu UNet
# in every profile), so only the pairs and the training change
_REFLOW_SIZES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        num_pairs=64,
        teacher_steps=2,
        batch_size=16,
        num_train_steps=10,
        log_every=5,
        checkpoint_every=0,
        warmup_steps=2,
    ),
    "cpu": dict(
        num_pairs=20000, teacher_steps=5, batch_size=64, num_train_steps=3000, warmup_steps=100
    ),
    "full": dict(
        num_pairs=100000, teacher_steps=25, batch_size=128, num_train_steps=20000, warmup_steps=500
    ),
}


def _mnist_reflow(profile: str) -> TrainConfig:
    """Part V: 2-rectified flow (Liu et al. 2023): mnist-flow's network trained on the pairs of
    noise and digit that mnist-flow's ODE (Heun, its card's sampler) draws, from its weights,
    with uniform times as Liu et al. draw them; the card samples with 4 Euler steps."""
    return dataclasses.replace(
        _mnist_flow("cpu"),
        name="mnist-reflow",
        teacher="mnist-flow",
        teacher_solver="heun",
        time_sampling="uniform",
        learning_rate=2e-4,
        sample_steps=4,
        **_REFLOW_SIZES[profile],
    )


# training fields shared by the Part IV denoisers (latent, cascade base, super-resolution)
_PART4_TRAINING: dict[str, dict[str, Any]] = {
    "cpu": dict(batch_size=64, num_train_steps=3000, learning_rate=1e-3, warmup_steps=100),
    "full": dict(
        batch_size=128,
        num_train_steps=20000,
        learning_rate=2e-4,
        ema_decay=0.9995,
        checkpoint_every=2000,
    ),
}


def _part4_smoke(batch_size: int, num_train_steps: int) -> dict[str, Any]:
    """The smoke profile's training fields: seconds on 256 digits, no periodic checkpoints."""
    return dict(
        batch_size=batch_size,
        num_train_steps=num_train_steps,
        num_train_images=256,
        log_every=5,
        checkpoint_every=0,
        warmup_steps=5,
    )


# the latent denoiser per profile: (UNet fields, training fields); latents are 4 x 7 x 7
_LATENT_SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "smoke": (
        dict(base_channels=16, num_res_blocks=1, num_heads=2),
        _part4_smoke(batch_size=32, num_train_steps=30),
    ),
    "cpu": (
        dict(base_channels=64, num_res_blocks=2, num_heads=4),
        _PART4_TRAINING["cpu"],
    ),
    "full": (
        dict(base_channels=128, num_res_blocks=2, num_heads=4),
        _PART4_TRAINING["full"],
    ),
}


def _mnist_latent(profile: str) -> TrainConfig:
    """Unconditional diffusion in the 4 x 7 x 7 latent space of ``mnist-autoencoder``.

    One resolution (7 is odd, so no downsampling), self-attention over the 49 positions.
    """
    unet, train = _LATENT_SIZES[profile]
    model = UNetConfig(
        in_channels=4,
        out_channels=4,
        image_size=7,
        channel_mults=(1,),
        attention_resolutions=(7,),
        **unet,
    )
    return TrainConfig(name="mnist-latent", autoencoder="mnist-autoencoder", model=model, **train)


def _mnist_sd(profile: str) -> TrainConfig:
    """Stable Diffusion in miniature: text-to-image in the latent space of ``mnist-autoencoder``.

    The latent denoiser of ``mnist-latent`` with cross-attention to a text transformer trained
    with it (Rombach et al. 2022, sec. 3.3); captions as in ``mnist-text``.
    """
    unet, train = _LATENT_SIZES[profile]
    text = dict(_TEXT_SIZES[profile], vocabulary=caption_vocabulary())
    model = TextUNetConfig(
        in_channels=4,
        out_channels=4,
        image_size=7,
        channel_mults=(1,),
        attention_resolutions=(7,),
        text_encoder="transformer",
        **unet,
        **text,
    )
    return TrainConfig(
        name="mnist-sd",
        conditioning="text",
        model_kind="text-unet",
        autoencoder="mnist-autoencoder",
        model=model,
        **train,
    )


# 14x14 base models of the cascades: (UNet fields, training fields); 14 -> 7, attention at 7
_LOWRES_SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "smoke": (
        dict(base_channels=8, num_res_blocks=1, num_heads=2),
        _part4_smoke(batch_size=16, num_train_steps=20),
    ),
    "cpu": (
        dict(base_channels=32, num_res_blocks=2, num_heads=4),
        _PART4_TRAINING["cpu"],
    ),
    "full": (
        dict(base_channels=64, num_res_blocks=2, num_heads=4),
        _PART4_TRAINING["full"],
    ),
}

# the 14 -> 28 super-resolution diffusion model: (UNet fields, training fields)
_SR_SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "smoke": (
        dict(
            base_channels=8,
            channel_mults=(1, 2),
            num_res_blocks=1,
            num_heads=2,
            attention_resolutions=(),
        ),
        _part4_smoke(batch_size=16, num_train_steps=20),
    ),
    "cpu": (
        dict(
            base_channels=16,
            channel_mults=(1, 2),
            num_res_blocks=1,
            num_heads=4,
            attention_resolutions=(),
        ),
        _PART4_TRAINING["cpu"],
    ),
    "full": (
        dict(
            base_channels=64,
            channel_mults=(1, 2, 2),
            num_res_blocks=2,
            num_heads=4,
            attention_resolutions=(7,),
        ),
        _PART4_TRAINING["full"],
    ),
}


def _lowres_unet(profile: str) -> dict[str, Any]:
    unet, _ = _LOWRES_SIZES[profile]
    return dict(image_size=14, channel_mults=(1, 2), attention_resolutions=(7,), **unet)


def _mnist_imagen_base(profile: str) -> TrainConfig:
    """Imagen's base model in miniature: 14x14 text-to-image with the frozen MiniLM encoder.

    Imagen reads the frozen T5-XXL's token features through cross-attention *and* their pooled
    vector added to the step embedding (Saharia et al. 2022, sec. 2.2, app. F); so does this.
    """
    model = TextUNetConfig(
        **_lowres_unet(profile), text_encoder="minilm", text_dim=384, text_conditioning="both"
    )
    return TrainConfig(
        name="mnist-imagen-base",
        conditioning="text",
        model_kind="text-unet",
        resolution=14,
        model=model,
        **_LOWRES_SIZES[profile][1],
    )


def _mnist_imagen_sr(profile: str) -> TrainConfig:
    """The 14 -> 28 super-resolution diffusion model (shared by the Imagen and unCLIP cascades)."""
    unet, train = _SR_SIZES[profile]
    model = SuperResUNetConfig(image_size=28, low_res_size=14, **unet)
    return TrainConfig(
        name="mnist-imagen-sr",
        conditioning="low-res",
        model_kind="sr-unet",
        cond_drop_prob=0.0,
        model=model,
        **train,
    )


def _mnist_unclip_decoder(profile: str) -> TrainConfig:
    """unCLIP's decoder in miniature: a 14x14 UNet conditioned on the CLIP image embedding.

    The embedding is projected and added to the step embedding (Ramesh et al. 2022, sec. 2.1)
    and dropped 10% of the time, so the decoder can be guided.
    """
    model = UNetConfig(**_lowres_unet(profile), cond_dim=64)
    return TrainConfig(
        name="mnist-unclip-decoder",
        conditioning="clip-image",
        clip="mnist-clip",
        resolution=14,
        model=model,
        **_LOWRES_SIZES[profile][1],
    )


def _toy(dataset: str, profile: str) -> TrainConfig:
    return TrainConfig(
        name=f"toy-{dataset}",
        dataset=dataset,
        model_kind="mlp",
        model=MLPConfig(),
        schedule="linear",
        num_diffusion_steps=200 if profile == "smoke" else 1000,
        batch_size=256,
        num_train_steps=_TOY_STEPS[profile],
        learning_rate=1e-3,
        warmup_steps=50,
        ema_decay=0.99,
        log_every=10 if profile == "smoke" else 50,
        checkpoint_every=0,
    )


_BUILDERS = {
    "mnist": lambda p: _mnist(p),
    "mnist-class": lambda p: _mnist(p, "class"),
    "mnist-text": lambda p: _mnist_text(p, "transformer"),
    "mnist-text-minilm": lambda p: _mnist_text(p, "minilm"),
    "mnist-flow": lambda p: _mnist_flow(p),
    "mnist-flow-text": lambda p: _mnist_flow(p, "text"),
    "mnist-dit": _mnist_dit,
    "mnist-mmdit": _mnist_mmdit,
    "mnist-reflow": _mnist_reflow,
    "mnist-latent": _mnist_latent,
    "mnist-sd": _mnist_sd,
    "mnist-imagen-base": _mnist_imagen_base,
    "mnist-imagen-sr": _mnist_imagen_sr,
    "mnist-unclip-decoder": _mnist_unclip_decoder,
    **{f"toy-{name}": (lambda p, n=name: _toy(n, p)) for name in TOY_DATASETS},
}
CONFIG_NAMES = tuple(_BUILDERS)


def get_config(config_name: str, profile: str | None = None, **overrides: Any) -> TrainConfig:
    """The named config at the sizes of ``profile`` (default: the profile in force).

    ``overrides`` replace fields; ``model`` may be a dict of network fields to replace.
    """
    if config_name not in _BUILDERS:
        raise ValueError(f"unknown config {config_name!r}; choose one of {', '.join(CONFIG_NAMES)}")
    config = _BUILDERS[config_name](get_profile(profile))
    model_overrides = overrides.pop("model", None)
    if isinstance(model_overrides, dict):
        overrides["model"] = dataclasses.replace(config.model, **model_overrides)
    elif model_overrides is not None:
        overrides["model"] = model_overrides
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(f"unknown config field(s) {sorted(unknown)}")
    return dataclasses.replace(config, **overrides)
