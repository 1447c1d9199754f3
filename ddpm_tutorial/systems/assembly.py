"""Systems of several networks: their cards, their parts, and what every system can do.

A system's model card (``NAME.json`` in the checkpoint folder, no weights of its own) names
its parts, each a checkpoint with its own card, and the sha256 each part had when the system
was assembled; :func:`load_system` loads every part, refuses a part that has changed, and
returns an object whose ``sample(prompt, num_samples)`` runs the whole pipeline:

* ``imagen`` (:class:`ImagenSystem`, Saharia et al. 2022): the prompt through the frozen
  text encoder, the 14x14 ``base`` model with classifier-free guidance and dynamic
  thresholding, then the 14 -> 28 ``upsampler`` (a super-resolution diffusion model with
  noise-conditioning augmentation);
* ``unclip`` (:class:`UnCLIPSystem`, Ramesh et al. 2022): the prompt through ``clip``'s text
  tower, the ``prior`` to a CLIP image embedding, the 14x14 ``decoder`` conditioned on it,
  then the same kind of ``upsampler``.

``python -m ddpm_tutorial sample --checkpoint mnist-imagen --prompt "a handwritten 7"`` goes
through here; :func:`write_system_card` assembles a system from published checkpoints. The
systems themselves are in :mod:`~ddpm_tutorial.systems.imagen` and
:mod:`~ddpm_tutorial.systems.unclip`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..checkpoints import (
    CARD_FORMAT,
    Checkpoint,
    CheckpointError,
    checkpoint_dirs,
    load_checkpoint,
    read_card,
    resolve_checkpoint,
)
from .super_resolution import sample_super_resolution

__all__ = [
    "SYSTEM_PARTS",
    "System",
    "find_system_card",
    "load_parts",
    "prompt_list",
    "write_system_card",
]

#: the parts each kind of system is made of
SYSTEM_PARTS: dict[str, tuple[str, ...]] = {
    "imagen": ("base", "upsampler"),
    "unclip": ("clip", "prior", "decoder", "upsampler"),
}


def find_system_card(spec: str | Path) -> Path | None:
    """The card of the system ``spec`` (a bare name or a .json path), or None if it is not one."""
    path = Path(spec)
    candidates: list[Path] = []
    if path.suffix == ".json":
        candidates = [path]
    elif path.parent == Path(".") and not path.suffix:
        candidates = [folder / f"{path.name}.json" for folder in checkpoint_dirs()]
    for card_path in candidates:
        if card_path.is_file():
            try:
                card = read_card(card_path)
            except CheckpointError:
                return None
            return card_path if "system" in card else None
    return None


def load_parts(card: Mapping[str, Any], device: str) -> dict[str, Checkpoint]:
    """Load every part a system card names, refusing a part whose sha256 has changed."""
    kind = card["system"]
    if kind not in SYSTEM_PARTS:
        raise CheckpointError(f"unknown system kind {kind!r}; known: {', '.join(SYSTEM_PARTS)}")
    parts = card.get("parts", {})
    missing = set(SYSTEM_PARTS[kind]) - set(parts)
    if missing:
        raise CheckpointError(f"system {card.get('name')!r} lacks the part(s) {sorted(missing)}")
    loaded: dict[str, Checkpoint] = {}
    for role in SYSTEM_PARTS[kind]:
        ckpt = load_checkpoint(parts[role]["checkpoint"], device=device)
        expected = parts[role].get("sha256")
        if expected and ckpt.card.get("sha256") != expected:
            raise CheckpointError(
                f"system {card.get('name')!r} was assembled with {parts[role]['checkpoint']!r} "
                f"of sha256 {expected[:12]}..., but that checkpoint now has "
                f"{str(ckpt.card.get('sha256'))[:12]}..."
            )
        loaded[role] = ckpt
    return loaded


@dataclass
class System:
    """What every system has: its card and its loaded parts, by role."""

    card: dict[str, Any]
    parts: dict[str, Checkpoint]

    @property
    def name(self) -> str:
        return str(self.card.get("name"))

    @property
    def num_parameters(self) -> int:
        """Parameters over all parts (a frozen pretrained text encoder is counted by its card)."""
        return sum(int(p.card["model"]["parameters"]) for p in self.parts.values()) + int(
            self.card.get("frozen_parameters", 0)
        )

    def sampling_options(self, **overrides: Any) -> dict[str, Any]:
        """The card's sampling defaults, with every override that is not None applied."""
        out = dict(self.card.get("sampling", {}))
        out.update({k: v for k, v in overrides.items() if v is not None})
        return out

    def upsample(self, low: Tensor, options: Mapping[str, Any], g: torch.Generator) -> Tensor:
        """The ``upsampler`` part's 28x28 samples for low-resolution images (N, 1, 14, 14).

        ``options`` are :meth:`sampling_options` (``aug_level``, ``upsampler_steps``,
        ``upsampler_clip_x0``).
        """
        up = self.parts["upsampler"]
        return sample_super_resolution(
            up.model,
            up.schedule,  # type: ignore[arg-type]
            low.clamp(-1, 1),
            aug_level=float(options.get("aug_level", 0.1)),
            num_steps=int(options.get("upsampler_steps", 25)),
            clip_x0=bool(options.get("upsampler_clip_x0", True)),
            generator=g,
        )


def prompt_list(prompt: str | Sequence[str], num_samples: int) -> list[str]:
    """One prompt repeated ``num_samples`` times, or a list of ``num_samples`` prompts, checked."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    prompts = [prompt] * num_samples if isinstance(prompt, str) else list(prompt)
    if len(prompts) != num_samples:
        raise ValueError(
            f"{len(prompts)} prompts for {num_samples} samples; give one or one per sample"
        )
    return prompts


def write_system_card(
    name: str,
    kind: str,
    parts: Mapping[str, str],
    *,
    dest: str | Path = "data/checkpoints",
    sampling: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a system from published checkpoints: write ``dest/NAME.json`` and register it.

    Args:
        parts: role -> checkpoint name; every role of ``SYSTEM_PARTS[kind]`` is needed.
        sampling: the defaults ``sample`` uses (guidance scales, steps, aug_level, ...).
        extra: further card fields (the paper's facts, metrics, the commands that trained
            each part are in the parts' own cards).
    """
    if kind not in SYSTEM_PARTS:
        raise ValueError(f"unknown system kind {kind!r}; choose one of {', '.join(SYSTEM_PARTS)}")
    missing = set(SYSTEM_PARTS[kind]) - set(parts)
    if missing:
        raise ValueError(f"a {kind} system needs the part(s) {sorted(missing)}")
    entries: dict[str, Any] = {}
    for role in SYSTEM_PARTS[kind]:
        _, part_card_path = resolve_checkpoint(parts[role])
        part = read_card(part_card_path)
        entries[role] = {
            "checkpoint": parts[role],
            "kind": part["model"]["kind"],
            "parameters": part["model"]["parameters"],
            "sha256": part.get("sha256"),
            "command": part.get("command"),
        }
    dest = Path(dest)
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "name": name,
        "system": kind,
        "parts": entries,
        "sampling": dict(sampling or {}),
        **dict(extra or {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (dest / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    registry_path = dest.parent / "registry.json"
    registry = (
        json.loads(registry_path.read_text()) if registry_path.is_file() else {"checkpoints": {}}
    )
    registry.setdefault("systems", {})[name] = {
        "card": f"{dest.name}/{name}.json",
        "parts": {role: e["checkpoint"] for role, e in entries.items()},
    }
    registry["systems"] = dict(sorted(registry["systems"].items()))
    registry_path.write_text(json.dumps(registry, indent=2) + "\n")
    return card
