"""A training run end to end: data, the loop, resumable state, and the checkpoint with its card.

``python -m ddpm_tutorial train --config NAME --out DIR`` is :func:`run_training`; its card
records the config, the data, the wall time, the loss curve, the held-out loss and the exact
command, so that the checkpoint can be remade.

Under ``torchrun --nproc-per-node N`` every process runs :func:`run_training` on its share of
each global batch (:mod:`~ddpm_tutorial.training.distributed`); the first process alone writes
the resumable state, the checkpoint and the card, which records ``world_size`` and the global
batch, and the others return the card it wrote.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import save_checkpoint
from ..flow_matching import FlowMatching
from ..models import build_model
from ..precision import resolve_precision
from ..runtime import default_device
from ..schedules import NoiseSchedule
from ..training.distributed import current_world
from ..training.loop import TrainState, evaluate_loss, train_denoiser
from ..training.state import load_training_state, read_training_meta, save_training_state
from .config import TrainConfig, config_from_json, config_to_dict, folder_of
from .data import encode_captions, load_training_data
from .reflow import load_teacher, teacher_pairs

__all__ = ["command_line", "path_of", "run_training"]


def path_of(config: TrainConfig) -> NoiseSchedule | FlowMatching:
    """The noise schedule of a ddpm run, or the flow-matching path of a flow run."""
    if config.objective == "flow":
        return FlowMatching(time_sampling=config.time_sampling)  # type: ignore[arg-type]
    return NoiseSchedule.from_name(config.schedule, config.num_diffusion_steps)


def command_line(argv: Sequence[str]) -> str:
    """The command that ran, as a card records it: ``python -m ddpm_tutorial ARGS...``."""
    return "python -m ddpm_tutorial " + " ".join(shlex.quote(a) for a in argv)


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

    In a process group (``torchrun``), only rank 0 writes; every rank returns the card.

    Returns:
        The model card (a dict).

    Raises:
        ValueError: ``config.batch_size`` does not divide among the processes, or a resumed
            config differs in more than ``num_train_steps``.
    """
    out_dir = Path(out_dir)
    device = torch.device(device) if device is not None else default_device()
    world = current_world()
    world.check_batch_size(config.batch_size)
    command = command or command_line(sys.argv[1:])
    commands = [command]
    if resume:
        meta = read_training_meta(out_dir)
        commands = [*meta.get("commands", []), command]
        saved = config_from_json(meta["config"])
        if config_to_dict(saved) | {"num_train_steps": 0} != config_to_dict(config) | {
            "num_train_steps": 0
        }:
            raise ValueError(
                f"cannot resume {str(out_dir)!r} with a different config; only num_train_steps may change"
            )
        model = build_model(saved.model_kind, config_to_dict(saved)["model"])
        state = load_training_state(out_dir, model, saved, device)
    else:
        torch.manual_seed(config.seed)
        model = build_model(config.model_kind, config_to_dict(config)["model"])
        if config.teacher:  # reflow: the student starts as the teacher
            _start_from_teacher(model, config)
        state = TrainState.create(model, config)
    meta = {"config": config_to_dict(config), "commands": commands}

    def write_state(s: TrainState) -> None:
        if world.is_main:
            save_training_state(s, out_dir, meta)

    coupled_noise = None
    if config.teacher:  # reflow: the teacher's (digit, noise) pairs replace the data
        data, coupled_noise, data_info = teacher_pairs(
            load_teacher(config, device), config, device=device
        )
        cond = None
    else:
        data, cond, data_info = load_training_data(config)
    if isinstance(cond, list):  # captions: encode each distinct one once
        cond = encode_captions(state.model, cond)
    schedule = path_of(config)
    state = train_denoiser(
        state.model,
        data,
        schedule,
        config,
        cond=cond,
        state=state,
        device=device,
        progress=progress,
        coupled_noise=coupled_noise,
        on_checkpoint=write_state,
        world=world,
    )
    if not world.is_main:  # rank 0 writes the card; the others wait for it and return it
        world.barrier()
        return json.loads((out_dir / "model.json").read_text())
    write_state(state)
    metrics: dict[str, Any] = {"final_train_loss": state.losses[-1][1] if state.losses else None}
    if folder_of(config.dataset) is None:
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
    else:  # a folder has no held-out images: the EMA model's loss on the training images
        metrics["heldout_loss"] = None
        metrics["loss_on_training_images"] = evaluate_loss(
            state.ema.model, data, schedule, batch_size=min(256, 4 * config.batch_size)
        )
    images_per_s = state.step * config.batch_size / max(state.wall_time_s, 1e-9)
    card = {
        **({"latent": data_info["latent"]} if "latent" in data_info else {}),
        "conditioning": config.conditioning,
        "sampling": _sampling_defaults(config),
        "data": data_info,
        "training": {
            "config": config_to_dict(config),
            "steps": state.step,
            "wall_time_s": round(state.wall_time_s, 1),
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "precision": resolve_precision(config.precision, device),
            "world_size": world.world_size,
            "global_batch_size": config.batch_size,
            "batch_size_per_process": config.batch_size // world.world_size,
            "images_per_second": round(images_per_s, 1),
            "loss_curve": state.losses,
        },
        "metrics": metrics,
        "command": commands[0],
        "resumed_with": commands[1:],
    }
    card = save_checkpoint(
        state.ema.model,
        out_dir / "model.safetensors",
        schedule=schedule,
        name=config.name,
        card=card,
    )
    world.barrier()  # the card is on disk: the other processes may read it
    return card


def _start_from_teacher(model: torch.nn.Module, config: TrainConfig) -> None:
    """Copy the teacher's weights into the student, whose network must be the teacher's."""
    teacher = load_teacher(config)
    theirs = teacher.card["model"]
    mine = config_to_dict(config)["model"]
    if theirs["kind"] != config.model_kind or theirs["config"] != mine:
        raise ValueError(
            f"reflow starts from the teacher's weights, so the student's network must be "
            f"{config.teacher!r}'s ({theirs['kind']}); use --config mnist-reflow or set --model.* to match"
        )
    model.load_state_dict(teacher.model.state_dict())


def _sampling_defaults(config: TrainConfig) -> dict[str, Any]:
    """The ``sampling`` block of a fresh card: how ``sample`` draws from it by default."""
    guidance = 1.0 if config.conditioning in ("none", "low-res") else 3.0
    if config.objective == "flow":
        # Euler on the straight path at the card's steps; clipping is not switched on before
        # it is measured on a flow model (sample --clip-x0 turns it on)
        return {"sampler": "euler", "steps": config.sample_steps, "guidance_scale": guidance}
    return {
        "sampler": "ddim",
        "steps": config.sample_steps,
        "eta": 0.0,
        "guidance_scale": guidance,
        **({"aug_level": 0.1} if config.conditioning == "low-res" else {}),
        # images in [-1, 1] clip the predicted clean image at every step: on a fresh
        # 1,000-step cpu run, FID 538 [431, 635] with clipping against 1,410 [1,170,
        # 1,640] without (n = 300, floor 4.4; data/experiments/clipping-fresh-run.json);
        # latents and 2-D points have no such range
        **({"clip_x0": True} if config.model_kind != "mlp" and not config.autoencoder else {}),
    }
