"""Resumable training state on disk: weights, EMA, optimizer, loss scaler and random generators.

:func:`save_training_state` writes ``checkpoint.safetensors`` (tensors only, nothing to
unpickle) and ``checkpoint.json`` (the step, the loss curve, the float16 loss scaler's scale and
growth count, and whatever the caller adds, such as the run's config and commands);
:func:`load_training_state` puts them back into a fresh
:class:`~ddpm_tutorial.training.loop.TrainState`, so that a resumed run ends exactly where an
uninterrupted one would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..precision import grad_scaler
from .loop import DenoiserTraining, TrainState

__all__ = ["load_training_state", "read_training_meta", "save_training_state"]

STATE_FILES = ("checkpoint.json", "checkpoint.safetensors")


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
    state: TrainState, out_dir: Path, meta: Mapping[str, Any] | None = None
) -> None:
    """Write ``checkpoint.safetensors`` and ``checkpoint.json`` (resumable) into ``out_dir``.

    ``meta`` (JSON-ready) is stored beside the state's own fields; the runs store their
    config and the command lines that produced the state there.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "checkpoint.safetensors.tmp"
    save_file(_state_tensors(state), str(tmp))
    tmp.replace(out_dir / "checkpoint.safetensors")
    record = {
        "step": state.step,
        "ema_num_updates": state.ema.num_updates,
        "losses": state.losses,
        "wall_time_s": state.wall_time_s,
        "grad_scaler": state.scaler.state_dict() if state.scaler is not None else None,
        **dict(meta or {}),
        "param_groups": state.optimizer.state_dict()["param_groups"],
    }
    (out_dir / "checkpoint.json").write_text(json.dumps(record, indent=1) + "\n")


def read_training_meta(out_dir: Path) -> dict[str, Any]:
    """The ``checkpoint.json`` of a resumable state.

    Raises:
        FileNotFoundError: ``out_dir`` holds no resumable state.
    """
    if not all((out_dir / name).is_file() for name in STATE_FILES):
        raise FileNotFoundError(
            f"no resumable checkpoint in {str(out_dir)!r} (checkpoint.json/.safetensors)"
        )
    return json.loads((out_dir / "checkpoint.json").read_text())


def load_training_state(
    out_dir: Path, model: nn.Module, config: DenoiserTraining, device: torch.device
) -> TrainState:
    """Rebuild the :class:`TrainState` that :func:`save_training_state` wrote.

    Args:
        out_dir: the folder of ``checkpoint.*``.
        model: a freshly built network of the saved architecture (its weights are replaced).
        config: the training config the state was saved with.
        device: where to put the weights and the optimizer state.
    """
    meta = read_training_meta(out_dir)
    tensors = load_file(str(out_dir / "checkpoint.safetensors"))
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
    if meta.get("grad_scaler") is not None:  # float16: the scale and its growth count, exactly
        state.scaler = grad_scaler(config.precision, device)
        if state.scaler is not None:
            state.scaler.load_state_dict(meta["grad_scaler"])
    return state
