"""Checkpoints: safetensors weights plus a JSON model card, loaded without unpickling.

A checkpoint is two files side by side: ``NAME.safetensors`` (the tensors, nothing else) and
``NAME.json``, the model card: which network to build (kind and config), the schedule, the
data, the training run (config, steps, wall time, the exact command), measured metrics, the
package version and the sha256 of the weights. :func:`load_checkpoint` rebuilds the network
from the card, checks the hash and loads the tensors; since safetensors holds only tensors, no
code from the file is ever run.

``load_checkpoint`` accepts a weights file, its card, a run directory (``model.json``) or a
bare name such as ``"mnist-ddpm"``, looked up in the checkpoint folders (see
:func:`checkpoint_dirs`). A bare name that is not there gets an error that lists the names that
are (:func:`checkpoint_names`) and suggests the nearest: "did you mean mnist-ddpm?".
"""

from __future__ import annotations

import datetime as _dt
import difflib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ._version import __version__
from .flow_matching import FLOW_KIND, FlowMatching
from .models import build_model, count_parameters, model_kind
from .schedules import NoiseSchedule

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "checkpoint_dirs",
    "checkpoint_names",
    "load_checkpoint",
    "publish_checkpoint",
    "read_card",
    "resolve_checkpoint",
    "save_checkpoint",
    "sha256_of",
    "unknown_name_message",
]

CARD_FORMAT = "ddpm-tutorial-model-card/1"
DATA_ENV = "DDPM_TUTORIAL_DATA"


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupted, or does not match its model card."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (eval mode), its schedule and its model card.

    ``schedule`` is None for a network that is not a denoiser (a classifier, CLIP, an
    autoencoder); ``path`` is the weights file.
    """

    model: nn.Module
    schedule: NoiseSchedule | FlowMatching | None
    card: dict[str, Any]
    path: Path

    @property
    def name(self) -> str:
        """The card's name, else the weights file's stem."""
        return str(self.card.get("name", self.path.stem))


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file.

    Args:
        path: the file, read in 1 MiB chunks.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_dirs() -> list[Path]:
    """Folders searched for a bare checkpoint name, in order.

    ``$DDPM_TUTORIAL_DATA/checkpoints``, then ``data/checkpoints`` under the current folder and
    each of its parents, then ``data/checkpoints`` beside the package (a source checkout).
    """
    dirs: list[Path] = []
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]) / "checkpoints")
    cwd = Path.cwd().resolve()
    for folder in [cwd, *cwd.parents]:
        dirs.append(folder / "data" / "checkpoints")
    dirs.append(Path(__file__).resolve().parent.parent / "data" / "checkpoints")
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def resolve_checkpoint(spec: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Find ``(weights_path, card_path)`` for a file, a run folder or a bare name.

    Args:
        spec: a weights file (``.safetensors``), a model card (``.json``) or a run folder
            (``model.json`` inside), each relative to the current folder; or a bare name
            (``"mnist-ddpm"``), looked up in :func:`checkpoint_dirs`.

    Raises:
        FileNotFoundError: naming what is missing; for an unknown bare name, the names there
            are and the nearest of them.
    """
    path = Path(spec)
    if path.suffix in (".safetensors", ".json") and not path.exists() and path.parent == Path("."):
        if checkpoint_names().get(path.stem) == "checkpoint":
            raise FileNotFoundError(
                f"{str(spec)!r} is not in the current folder; to load the checkpoint named "
                f"{path.stem!r} from the checkpoint folders, pass the bare name {path.stem}"
            )
    if path.suffix == ".safetensors":
        card = path.with_suffix(".json")
        _require(path, "weights file")
        _require(card, "model card (expected beside the weights)")
        return path, card
    if path.suffix == ".json":
        _require(path, "model card")
        return _weights_beside(path), path
    if path.is_dir():
        card = path / "model.json"
        _require(card, "model card of the run folder")
        return _weights_beside(card), card
    if path.parent == Path(".") and not path.suffix:
        for folder in checkpoint_dirs():
            card = folder / f"{path.name}.json"
            if card.is_file():
                return _weights_beside(card), card
        raise FileNotFoundError(unknown_name_message(path.name))
    raise FileNotFoundError(f"checkpoint {str(spec)!r} does not exist")


def checkpoint_names() -> dict[str, str]:
    """Every bare name the checkpoint folders hold: name -> ``"checkpoint"`` or ``"system"``.

    A name is a model card ``NAME.json`` in one of :func:`checkpoint_dirs`; a system's card
    (several networks, no weights of its own) is a ``"system"``. Where two folders hold the
    same name, the first one's card counts, as in :func:`resolve_checkpoint`. Files that are
    not model cards are left out. Sorted by name.
    """
    names: dict[str, str] = {}
    for folder in checkpoint_dirs():
        if not folder.is_dir():
            continue
        for card_path in sorted(folder.glob("*.json")):
            if card_path.stem in names:
                continue
            try:
                card = read_card(card_path)
            except CheckpointError:
                continue
            names[card_path.stem] = "system" if "system" in card else "checkpoint"
    return dict(sorted(names.items()))


def unknown_name_message(name: str, kind: str = "checkpoint", prefer: str | None = None) -> str:
    """The one-line error for a bare name the checkpoint folders lack.

    It suggests the nearest known name, lists the checkpoint and system names there are, and
    the folders that were searched.

    Args:
        name: the bare name asked for, e.g. ``"mnist-dpm"``.
        kind: what was asked for, in the message: ``"no {kind} named ..."``.
        prefer: ``"checkpoint"`` or ``"system"`` to suggest a name of that kind when one is
            close enough (``load_system`` prefers systems); None for the nearest of any kind.

    Returns:
        One line: ``no checkpoint named 'mnist-dpm'; did you mean mnist-ddpm?``, then the
        checkpoint and system names there are and the folders that were searched.
    """
    names = checkpoint_names()
    preferred = [n for n, k in names.items() if k == prefer]
    close = difflib.get_close_matches(name, preferred, n=1, cutoff=0.6) or (
        difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    )
    head = f"no {kind} named {name!r}" + (f"; did you mean {close[0]}?" if close else ";")
    listing = "; ".join(
        f"{label}: " + (", ".join(n for n, k in names.items() if k == which) or "none")
        for label, which in (("checkpoints", "checkpoint"), ("systems", "system"))
    )
    dirs = checkpoint_dirs()
    found = [str(d) for d in dirs if d.is_dir()]
    others = len(dirs) - len(found)
    where = ", ".join(found) if found else "no checkpoint folder exists"
    if others:
        where += f" (and {others} folder{'s' if others > 1 else ''} that do not exist)"
    return (
        f"{head} {listing}; looked in {where}; "
        f"set ${DATA_ENV} to the folder that holds checkpoints/"
    )


def _require(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")


def _weights_beside(card_path: Path) -> Path:
    card = read_card(card_path)
    if "system" in card:
        raise CheckpointError(
            f"{card.get('name')!r} is a system of several networks "
            f"({', '.join(card.get('parts', {}))}), not one checkpoint: load it with "
            "ddpm_tutorial.systems.load_system"
        )
    weights = card_path.parent / card.get("weights", card_path.with_suffix(".safetensors").name)
    _require(weights, f"weights file named by the model card {card_path.name!r}:")
    return weights


def read_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a model card, with a readable error for a file that is not one.

    Args:
        path: the card, a JSON file whose ``format`` is ``CARD_FORMAT``.

    Raises:
        CheckpointError: the file is not JSON, or not a model card.
    """
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"model card {str(path)!r} is not valid JSON: {err}") from err
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a ddpm-tutorial model card (format {CARD_FORMAT})"
        )
    return card


def save_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    schedule: NoiseSchedule | FlowMatching | None,
    name: str | None = None,
    card: dict[str, Any] | None = None,
    state_dict: dict[str, Tensor] | None = None,
) -> dict[str, Any]:
    """Write ``path`` (``.safetensors``) and its model card (``.json``) beside it.

    Args:
        model: the network; its registered kind and ``config`` go into the card.
        path: the weights file to write, ending in ``.safetensors``.
        schedule: keyword-only and required: the noise schedule the network was trained with,
            recorded in the card as its kind and number of steps, from which
            :func:`load_checkpoint` rebuilds it (a flow-matching path: all its fields); pass
            None for a network that is not a denoiser (a classifier, CLIP, an autoencoder).
        name: the checkpoint's name (default: the file's stem).
        card: further card fields (data, training, metrics, command, ...).
        state_dict: tensors to write instead of ``model.state_dict()`` (e.g. EMA weights).

    Returns:
        The model card that was written.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoint weights must end in .safetensors; got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: v.detach().cpu().contiguous() for k, v in (state_dict or model.state_dict()).items()
    }
    save_file(tensors, str(path))
    config = getattr(model, "config", None)
    full = {
        "format": CARD_FORMAT,
        "name": name or path.stem,
        "model": {
            "kind": model_kind(model),
            "config": _jsonable(config.__dict__ if config is not None else {}),
            "parameters": count_parameters(model),
        },
        "schedule": _schedule_entry(schedule),
        **(card or {}),
        "package_version": __version__,
        "weights": path.name,
        "weights_bytes": path.stat().st_size,
        "sha256": sha256_of(path),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path.with_suffix(".json").write_text(json.dumps(full, indent=2) + "\n")
    return full


def load_checkpoint(
    spec: str | os.PathLike[str], *, device: torch.device | str = "cpu", verify: bool = True
) -> Checkpoint:
    """Load a checkpoint by file, card, run folder or bare name (see the module docstring).

    Args:
        spec: a weights file, its card, a run folder or a bare name such as ``"mnist-ddpm"``
            (see :func:`resolve_checkpoint`).
        device: where the weights are loaded and the network put.
        verify: check the weights' sha256 against the card's before loading them.

    Returns:
        The network in eval mode with gradients off, its schedule (None for a network that is
        not a denoiser) and its card.

    Raises:
        FileNotFoundError: the weights or the card is missing.
        CheckpointError: the card is not a model card, the weights are corrupted, their sha256
            differs from the card's, or their tensors do not fit the network the card describes.
    """
    weights, card_path = resolve_checkpoint(spec)
    card = read_card(card_path)
    if verify and card.get("sha256"):
        actual = sha256_of(weights)
        if actual != card["sha256"]:
            raise CheckpointError(
                f"sha256 mismatch for {str(weights)!r}: the card says {card['sha256'][:12]}..., "
                f"the file has {actual[:12]}...; the file was changed or damaged"
            )
    try:
        tensors = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"weights file {str(weights)!r} is corrupted or not safetensors: {err}"
        ) from err
    model_info = card.get("model", {})
    model = build_model(model_info.get("kind", ""), model_info.get("config", {}))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"weights in {str(weights)!r} do not fit the {model_info.get('kind')!r} network its card "
            f"describes: {str(err).splitlines()[0]}"
        ) from err
    model.to(device).eval().requires_grad_(False)
    schedule = _schedule_of(card.get("schedule"))
    return Checkpoint(model=model, schedule=schedule, card=card, path=weights)


def _schedule_entry(schedule: NoiseSchedule | FlowMatching | None) -> dict[str, Any] | None:
    """The card's ``schedule``: kind and steps, or a flow-matching path's fields."""
    if schedule is None:
        return None
    if isinstance(schedule, FlowMatching):
        return schedule.to_dict()
    return {"kind": schedule.kind, "num_steps": schedule.num_steps}


def _schedule_of(entry: dict[str, Any] | None) -> NoiseSchedule | FlowMatching | None:
    """Rebuild what :func:`_schedule_entry` wrote."""
    if not entry:
        return None
    if entry.get("kind") == FLOW_KIND:
        return FlowMatching.from_dict(entry)
    return NoiseSchedule.from_name(entry["kind"], entry["num_steps"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def publish_checkpoint(
    run: str | os.PathLike[str],
    name: str,
    dest: str | os.PathLike[str] = "data/checkpoints",
    metrics: dict[str, Any] | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Copy a run's checkpoint to ``dest/NAME.safetensors`` + ``NAME.json`` and register it.

    The card keeps everything the run wrote (command, data, training, metrics), takes the new
    name and file name, merges ``metrics`` and ``sampling``, and ``dest/../registry.json``
    records its sha256.

    Args:
        run: the run's checkpoint: a run folder, its weights or its card (see
            :func:`resolve_checkpoint`).
        name: the published name, e.g. ``"mnist-ddpm"``.
        dest: the checkpoint folder to copy into; the registry is its parent's.
        metrics: measured metrics to merge into the card's.
        sampling: defaults that ``sample`` uses, such as a guidance scale chosen from
            measurements, merged into the card's.

    Returns:
        The published model card.
    """
    weights, card_path = resolve_checkpoint(run)
    card = read_card(card_path)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{name}.safetensors"
    target.write_bytes(weights.read_bytes())
    card.update(
        name=name,
        weights=target.name,
        sha256=sha256_of(target),
        weights_bytes=target.stat().st_size,
    )
    card["metrics"] = {**card.get("metrics", {}), **(metrics or {})}
    if sampling:
        card["sampling"] = {**card.get("sampling", {}), **sampling}
    target.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    registry_path = dest.parent / "registry.json"
    registry = (
        json.loads(registry_path.read_text()) if registry_path.is_file() else {"checkpoints": {}}
    )
    registry["checkpoints"][name] = {
        "weights": f"{dest.name}/{target.name}",
        "card": f"{dest.name}/{target.with_suffix('.json').name}",
        "sha256": card["sha256"],
        "bytes": card["weights_bytes"],
    }
    registry["checkpoints"] = dict(sorted(registry["checkpoints"].items()))
    registry_path.write_text(json.dumps(registry, indent=2) + "\n")
    return card
