"""The training loop: Algorithm 1 of Ho et al. (2020), repeated, with the usual care.

:func:`train_denoiser` is the one loop that chapters and the command line share:

    repeat: x0 ~ data; t ~ Uniform{0..T-1}; noise ~ N(0, I)
            take a gradient step on || noise - model(add_noise(x0, t, noise), t) ||^2

plus AdamW with a linear warm-up, gradient clipping, an exponential moving average of the
weights (:class:`~ddpm_tutorial.ema.EMA`), a ``tqdm.auto`` progress bar, a clear stop when the
loss is not finite, and periodic checkpoints that :func:`run_training` resumes from exactly:
every random number (batches, steps, noise, condition dropout) comes from one
``torch.Generator`` whose state is saved with the weights and the optimizer.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .checkpoints import save_checkpoint
from .configs import MNIST_SIZE, TrainConfig, config_from_json, config_to_dict
from .datasets.captions import CaptionThresholds, caption_split
from .datasets.mnist import load_mnist
from .datasets.toy2d import make_toy_data
from .ema import EMA
from .losses import noise_prediction_loss
from .models import build_model
from .precision import autocast, resolve_precision, uses_channels_last
from .runtime import default_device
from .schedules import NoiseSchedule

__all__ = [
    "TrainState",
    "train_denoiser",
    "run_training",
    "evaluate_loss",
    "load_training_data",
    "NonFiniteLossError",
    "index_condition",
    "one_cycle",
    "encode_captions",
    "to_latents",
]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainState:
    """Everything that changes during training (and is saved to resume it)."""

    model: nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    step: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    wall_time_s: float = 0.0

    @classmethod
    def create(cls, model: nn.Module, config: TrainConfig) -> TrainState:
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        return cls(
            model=model,
            ema=EMA(model, config.ema_decay),
            optimizer=optimizer,
            generator=torch.Generator().manual_seed(config.seed + 1),
        )


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``config.learning_rate`` over ``warmup_steps``, then constant."""
    if config.warmup_steps <= 0:
        return config.learning_rate
    return config.learning_rate * min(1.0, (step + 1) / config.warmup_steps)


def one_cycle(
    optimizer: torch.optim.Optimizer, lr: float, steps: int, warmup: float = 0.05
) -> torch.optim.lr_scheduler.OneCycleLR:
    """A one-cycle schedule: warm up to ``lr`` over a ``warmup`` fraction of ``steps``, then anneal.

    The warm-up lasts at least two steps: torch's OneCycleLR divides by zero when it lasts
    exactly one (``warmup * steps == 1``, e.g. 20 steps at 5%).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    fraction = max(warmup, 2 / steps) if steps > 2 else warmup
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=fraction)


def index_condition(cond: Any, idx: Tensor) -> Any:
    """Rows ``idx`` of a per-example condition: a tensor (labels, token ids) or a dict of them."""
    if cond is None:
        return None
    if isinstance(cond, Mapping):
        return {k: v[idx] for k, v in cond.items()}
    return cond[idx]


def _condition_to(cond: Any, device: torch.device) -> Any:
    if isinstance(cond, Mapping):
        return {k: v.to(device) for k, v in cond.items()}
    return cond.to(device) if cond is not None else None


def _condition_rows(cond: Any) -> int:
    first = next(iter(cond.values())) if isinstance(cond, Mapping) else cond
    return int(first.shape[0])


def train_denoiser(
    model: nn.Module,
    data: Tensor,
    schedule: NoiseSchedule,
    config: TrainConfig,
    *,
    cond: Tensor | Mapping[str, Tensor] | None = None,
    state: TrainState | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_checkpoint: Callable[[TrainState], None] | None = None,
) -> TrainState:
    """Train ``model`` to predict noise on ``data`` until ``config.num_train_steps``.

    Args:
        model: a noise predictor ``model(x_t, t[, cond, cond_mask=...])``.
        data: clean training examples, shape (N, C, H, W) in [-1, 1] or (N, D).
        schedule: the noise schedule.
        config: batch size, steps, learning rate, EMA decay, seed, logging and checkpointing.
        cond: optional per-example condition with N rows: (N,) int64 labels for a
            class-conditional model, (N, L) token ids or a dict of (N, ...) text features for a
            text-conditional one. It is dropped with ``config.cond_drop_prob`` per example.
        state: a :class:`TrainState` to continue from (default: a fresh one).
        device: where to train (default: :func:`~ddpm_tutorial.runtime.default_device`).
        progress: show a tqdm progress bar.
        on_checkpoint: called with the state every ``config.checkpoint_every`` steps.

    Returns:
        The final :class:`TrainState`; ``state.ema.model`` holds the averaged weights.

    Raises:
        NonFiniteLossError: if the loss becomes NaN or infinite.
    """
    device = torch.device(device) if device is not None else default_device()
    if data.ndim < 2 or data.shape[0] < 1:
        raise ValueError(f"data must have shape (N, ...) with N >= 1; got {tuple(data.shape)}")
    if cond is not None and _condition_rows(cond) != data.shape[0]:
        raise ValueError(
            f"cond must have one row per example ({data.shape[0]}); got {_condition_rows(cond)}"
        )
    if state is None:
        torch.manual_seed(config.seed)
        state = TrainState.create(model, config)
    model.to(device).train()
    state.ema.model.to(device)
    data = data.to(device)
    precision = resolve_precision(config.precision, device)
    if data.ndim == 4 and uses_channels_last(precision, device):
        # oneDNN's fp32 convolutions are faster channels-last; the batches inherit the layout
        model.to(memory_format=torch.channels_last)
        data = data.contiguous(memory_format=torch.channels_last)
    cond = _condition_to(cond, device)
    N = data.shape[0]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.num_train_steps, initial=state.step, desc=config.name, leave=False)
    running: list[float] = []
    start = time.perf_counter() - state.wall_time_s
    while state.step < config.num_train_steps:
        idx = torch.randint(0, N, (config.batch_size,), generator=state.generator).to(device)
        x0 = data[idx]
        for group in state.optimizer.param_groups:
            group["lr"] = learning_rate_at(state.step, config)
        batch_cond = index_condition(cond, idx)
        with autocast(precision, device):  # bf16 matmuls and convolutions, fp32 weights and loss
            loss = noise_prediction_loss(
                model,
                x0,
                schedule,
                cond=batch_cond,
                cond_drop_prob=config.cond_drop_prob if cond is not None else 0.0,
                generator=state.generator,
            )
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"the loss became {value} at step {state.step}; lower the learning rate "
                f"(now {config.learning_rate}) or check the data for NaNs"
            )
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        state.optimizer.step()
        state.ema.update(model)
        state.step += 1
        running.append(value)
        if state.step % config.log_every == 0 or state.step == config.num_train_steps:
            state.losses.append((state.step, sum(running) / len(running)))
            running = []
            if bar is not None:
                bar.set_postfix(loss=f"{state.losses[-1][1]:.4f}")
        if bar is not None:
            bar.update(1)
        state.wall_time_s = time.perf_counter() - start
        if (
            on_checkpoint is not None
            and config.checkpoint_every > 0
            and state.step % config.checkpoint_every == 0
        ):
            on_checkpoint(state)
    if bar is not None:
        bar.close()
    model.eval()
    return state


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    data: Tensor,
    schedule: NoiseSchedule,
    *,
    num_batches: int = 10,
    batch_size: int = 256,
    seed: int = 0,
    cond: Tensor | Mapping[str, Tensor] | None = None,
) -> float:
    """The simple loss on ``data`` averaged over fixed random steps and noise (deterministic).

    ``cond`` (one row per example, as in :func:`train_denoiser`) is never dropped here.
    """
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    total = 0.0
    for _ in range(num_batches):
        idx = torch.randint(0, data.shape[0], (min(batch_size, data.shape[0]),), generator=g)
        batch_cond = _condition_to(index_condition(cond, idx), device)
        x0 = data[idx].to(device)
        total += float(noise_prediction_loss(model, x0, schedule, cond=batch_cond, generator=g))
    return total / num_batches


# ---------------------------------------------------------------------------- runs on disk
def load_training_data(
    config: TrainConfig, split: str = "train"
) -> tuple[Tensor, Tensor | list[str] | None, dict[str, Any]]:
    """The data a config trains on: ``(examples, condition or None, description)``.

    The condition is the (N,) labels for class conditioning and a list of N captions for text
    conditioning; then each digit appears ``config.captions_per_image`` times in ``examples``,
    once with each of its captions (:func:`~ddpm_tutorial.datasets.captions.make_captions`,
    whose attribute thresholds are fitted on the training split).
    """
    if config.dataset == "mnist":
        mnist = load_mnist(split, source=config.data_source, verbose=False)  # type: ignore[arg-type]
        images, labels = mnist.images, mnist.labels
        if config.num_train_images and split == "train":
            keep = subset_indices(int(images.shape[0]), config.num_train_images)
            images, labels = images[keep], labels[keep]
        info: dict[str, Any] = {
            "dataset": "mnist",
            "source": mnist.source,
            "split": split,
            "num_images": int(images.shape[0]),
        }
        captions: list[str] | None = None
        if config.conditioning == "text":  # captions are written from the pixels
            captions, thresholds = caption_training_digits(config, images, labels, split)
            info.update(
                captions_per_image=config.captions_per_image,
                num_pairs=len(captions),
                num_distinct_captions=len(set(captions)),
                caption_thresholds=dataclasses.asdict(thresholds),
                caption_examples=captions[: 2 * config.captions_per_image],
            )
        cond: Tensor | None = labels if config.conditioning == "class" else None
        if config.conditioning == "clip-image":  # embeddings of the full-size digits
            cond = clip_image_condition(config.clip, images)
            info["clip"] = config.clip
        elif config.conditioning == "low-res":  # the 28x28 digit is the target, 14x14 the input
            from .super_resolution import downsample

            factor = MNIST_SIZE // config.model.low_res_size
            cond = downsample(images, factor)
            info["low_res_size"] = config.model.low_res_size
        if config.resolution and config.resolution != MNIST_SIZE:
            from .super_resolution import downsample

            images = downsample(images, MNIST_SIZE // config.resolution)
            info["resolution"] = config.resolution
        if config.autoencoder:
            images, info["latent"] = to_latents(config.autoencoder, images, config.data_source)
        if captions is not None:
            return images.repeat_interleave(config.captions_per_image, dim=0), captions, info
        return images, cond, info
    n = 10_000 if split == "train" else 2_000
    points = make_toy_data(
        config.dataset, n, seed=config.seed if split == "train" else config.seed + 10_000
    )
    return (
        points,
        None,
        {"dataset": config.dataset, "source": "generated", "split": split, "num_images": n},
    )


def clip_image_condition(clip: str, images: Tensor) -> Tensor:
    """The condition of unCLIP's decoder: CLIP image embeddings (N, D) scaled to norm sqrt(D)."""
    from .clip import image_embeddings, load_clip
    from .unclip import scale_embeddings

    return scale_embeddings(image_embeddings(load_clip(clip), images))


def to_latents(autoencoder: str, images: Tensor, data_source: str = "auto") -> tuple[Tensor, dict[str, Any]]:
    """Scaled latents of ``images`` under an autoencoder checkpoint, and what the card records.

    The scale is the one in the autoencoder's card (measured on the training digits), so the
    latents have unit variance over the training set.
    """
    from .checkpoints import load_checkpoint
    from .latents import encode_latents
    from .models.autoencoder import Autoencoder

    ckpt = load_checkpoint(autoencoder)
    if not isinstance(ckpt.model, Autoencoder):
        raise ValueError(f"{autoencoder!r} is not an autoencoder checkpoint")
    scale = float(ckpt.card["latent"]["scale"])
    latents = encode_latents(ckpt.model, images, scale)
    return latents, {
        "autoencoder": autoencoder,
        "autoencoder_sha256": ckpt.card.get("sha256"),
        "scale": scale,
        "shape": list(latents.shape[1:]),
        "std_of_scaled_latents": round(float(latents.std()), 4),
    }


def subset_indices(num_images: int, num_keep: int) -> Tensor:
    """A fixed random subset of ``num_keep`` of ``num_images`` indices, sorted.

    A random subset rather than the first ``num_keep``: the offline digits come sorted by
    class, so the first 256 are all zeros.
    """
    if num_keep >= num_images:
        return torch.arange(num_images)
    g = torch.Generator().manual_seed(1234)
    return torch.randperm(num_images, generator=g)[:num_keep].sort().values


def caption_training_digits(
    config: TrainConfig, images: Tensor, labels: Tensor, split: str
) -> tuple[list[str], CaptionThresholds]:
    """Captions of ``images`` (``captions_per_image`` each, flattened digit by digit)."""
    if split != "train":  # thresholds always come from the training digits
        images_train = load_mnist("train", source=config.data_source, verbose=False).images  # type: ignore[arg-type]
        if config.num_train_images:
            images_train = images_train[subset_indices(len(images_train), config.num_train_images)]
    else:
        images_train = images
    per_image, thresholds = caption_split(
        images,
        labels,
        images_train,
        split=split,
        captions_per_image=config.captions_per_image,
        seed=config.seed,
    )
    return [c for caps in per_image for c in caps], thresholds


def encode_captions(model: nn.Module, captions: Sequence[str]) -> Any:
    """``model.encode_prompts`` of each caption, encoding every distinct caption once."""
    distinct = sorted(set(captions))
    where = {c: i for i, c in enumerate(distinct)}
    encoded = model.encode_prompts(distinct)  # type: ignore[operator]
    idx = torch.tensor([where[c] for c in captions], device=_device_of(encoded))
    return index_condition(encoded, idx)


def _device_of(cond: Any) -> torch.device:
    first = next(iter(cond.values())) if isinstance(cond, Mapping) else cond
    return first.device


def _state_tensors(state: TrainState) -> dict[str, Tensor]:
    tensors = {f"model.{k}": v for k, v in state.model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in state.ema.model.state_dict().items()})
    for i, s in state.optimizer.state_dict()["state"].items():
        for key, value in s.items():
            tensors[f"optim.{i}.{key}"] = (
                value if isinstance(value, Tensor) else torch.tensor(value)
            )
    tensors["rng.generator"] = state.generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def save_training_state(
    state: TrainState, config: TrainConfig, out_dir: Path, commands: list[str] | None = None
) -> None:
    """Write ``checkpoint.safetensors`` and ``checkpoint.json`` (resumable) into ``out_dir``.

    ``commands`` lists the command lines that produced this state (the first run, then each
    resume), so that the final model card can say exactly how it was made.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "checkpoint.safetensors.tmp"
    save_file(_state_tensors(state), str(tmp))
    tmp.replace(out_dir / "checkpoint.safetensors")
    meta = {
        "step": state.step,
        "ema_num_updates": state.ema.num_updates,
        "losses": state.losses,
        "wall_time_s": state.wall_time_s,
        "config": config_to_dict(config),
        "commands": commands or [],
        "param_groups": state.optimizer.state_dict()["param_groups"],
    }
    (out_dir / "checkpoint.json").write_text(json.dumps(meta, indent=1) + "\n")


def load_training_state(out_dir: Path, device: torch.device) -> tuple[TrainState, TrainConfig]:
    """Rebuild the :class:`TrainState` written by :func:`save_training_state`."""
    meta_path, tensor_path = out_dir / "checkpoint.json", out_dir / "checkpoint.safetensors"
    if not meta_path.is_file() or not tensor_path.is_file():
        raise FileNotFoundError(
            f"no resumable checkpoint in {str(out_dir)!r} (checkpoint.json/.safetensors)"
        )
    meta = json.loads(meta_path.read_text())
    config = config_from_json(meta["config"])
    tensors = load_file(str(tensor_path))
    model = build_model(config.model_kind, config_to_dict(config)["model"])
    state = TrainState.create(model, config)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state.ema.model.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state.ema.num_updates = meta["ema_num_updates"]
    model.to(device)
    state.ema.model.to(device)
    optim_state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, i, name = key.split(".", 2)
            optim_state.setdefault(int(i), {})[name] = value.to(device) if name != "step" else value
    state.optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    state.generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    state.step = meta["step"]
    state.losses = [tuple(x) for x in meta["losses"]]  # type: ignore[misc]
    state.wall_time_s = meta["wall_time_s"]
    return state, config


def run_training(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    device: torch.device | str | None = None,
    progress: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """Train a config end to end and write ``out_dir/model.safetensors`` with its model card.

    With ``resume=True`` the run continues from ``out_dir/checkpoint.*`` (written every
    ``config.checkpoint_every`` steps) and ends exactly where an uninterrupted run would;
    ``config.num_train_steps`` may be raised to train longer.

    Returns:
        The model card (a dict).
    """
    out_dir = Path(out_dir)
    device = torch.device(device) if device is not None else default_device()
    command = command or "python -m ddpm_tutorial " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    commands = [command]
    if resume:
        previous = (
            json.loads((out_dir / "checkpoint.json").read_text()).get("commands", [])
            if (out_dir / "checkpoint.json").is_file()
            else []
        )
        commands = [*previous, command]
        state, saved = load_training_state(out_dir, device)
        if config_to_dict(saved) | {"num_train_steps": 0} != config_to_dict(config) | {
            "num_train_steps": 0
        }:
            raise ValueError(
                f"cannot resume {str(out_dir)!r} with a different config; only num_train_steps may change"
            )
    else:
        torch.manual_seed(config.seed)
        model = build_model(config.model_kind, config_to_dict(config)["model"])
        state = TrainState.create(model, config)
    data, cond, data_info = load_training_data(config)
    if isinstance(cond, list):  # captions: encode each distinct one once
        cond = encode_captions(state.model, cond)
    schedule = NoiseSchedule.from_name(config.schedule, config.num_diffusion_steps)
    state = train_denoiser(
        state.model,
        data,
        schedule,
        config,
        cond=cond,
        state=state,
        device=device,
        progress=progress,
        on_checkpoint=lambda s: save_training_state(s, config, out_dir, commands),
    )
    save_training_state(state, config, out_dir, commands)
    metrics: dict[str, Any] = {"final_train_loss": state.losses[-1][1] if state.losses else None}
    heldout, heldout_cond, _ = load_training_data(config, split="test")
    if isinstance(heldout_cond, list):
        heldout_cond = encode_captions(state.ema.model, heldout_cond)
    metrics["heldout_loss"] = evaluate_loss(
        state.ema.model,
        heldout,
        schedule,
        cond=heldout_cond,
        batch_size=min(256, 4 * config.batch_size),
    )
    images_per_s = state.step * config.batch_size / max(state.wall_time_s, 1e-9)
    card = {
        **({"latent": data_info["latent"]} if "latent" in data_info else {}),
        "conditioning": config.conditioning,
        "sampling": {
            "sampler": "ddim",
            "steps": config.sample_steps,
            "eta": 0.0,
            "guidance_scale": 1.0 if config.conditioning in ("none", "low-res") else 3.0,
            **({"aug_level": 0.1} if config.conditioning == "low-res" else {}),
        },
        "data": data_info,
        "training": {
            "config": config_to_dict(config),
            "steps": state.step,
            "wall_time_s": round(state.wall_time_s, 1),
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "precision": resolve_precision(config.precision, device),
            "images_per_second": round(images_per_s, 1),
            "loss_curve": state.losses,
        },
        "metrics": metrics,
        "command": commands[0],
        "resumed_with": commands[1:],
    }
    return save_checkpoint(
        state.ema.model,
        out_dir / "model.safetensors",
        schedule=schedule,
        name=config.name,
        card=card,
    )
