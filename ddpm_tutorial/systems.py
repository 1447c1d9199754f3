"""Systems of several networks, loaded and sampled by one name: ``mnist-unclip``, ``mnist-imagen``.

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
through here; :func:`write_system_card` assembles a system from published checkpoints.
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

from .checkpoints import (
    CARD_FORMAT,
    Checkpoint,
    CheckpointError,
    checkpoint_dirs,
    load_checkpoint,
    read_card,
    resolve_checkpoint,
)

__all__ = [
    "LIMITS",
    "SYSTEM_PARTS",
    "ImagenSystem",
    "UnCLIPSystem",
    "find_system_card",
    "load_system",
    "write_system_card",
]

#: how a sampler keeps the predicted clean image in range (see ``ImagenSystem.sample_low_res``)
LIMITS = ("none", "static", "dynamic")

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


def _load_parts(card: Mapping[str, Any], device: str) -> dict[str, Checkpoint]:
    kind = card["system"]
    if kind not in SYSTEM_PARTS:
        raise CheckpointError(
            f"unknown system kind {kind!r}; known: {', '.join(SYSTEM_PARTS)}"
        )
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
class _System:
    """What every system has: its card and its loaded parts."""

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

    def _defaults(self, **overrides: Any) -> dict[str, Any]:
        out = dict(self.card.get("sampling", {}))
        out.update({k: v for k, v in overrides.items() if v is not None})
        return out

    def _upsample(self, low: Tensor, options: Mapping[str, Any], g: torch.Generator) -> Tensor:
        from .super_resolution import sample_super_resolution

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


def _prompts(prompt: str | Sequence[str], num_samples: int) -> list[str]:
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    prompts = [prompt] * num_samples if isinstance(prompt, str) else list(prompt)
    if len(prompts) != num_samples:
        raise ValueError(f"{len(prompts)} prompts for {num_samples} samples; give one or one per sample")
    return prompts


class ImagenSystem(_System):
    """Imagen's cascade: frozen text encoder -> 14x14 base -> 14 -> 28 super-resolution."""

    @torch.no_grad()
    def sample_low_res(
        self,
        prompt: str | Sequence[str],
        num_samples: int,
        *,
        seed: int = 0,
        guidance_scale: float | None = None,
        steps: int | None = None,
        limit: str | None = None,
        dynamic_threshold: float | None = None,
    ) -> Tensor:
        """The base model's (N, 1, 14, 14) samples, before super-resolution.

        ``limit`` is how the predicted clean image is kept in range at each step: ``"none"``,
        ``"static"`` (clip to [-1, 1]) or ``"dynamic"`` (Imagen's dynamic thresholding at the
        percentile ``dynamic_threshold``); None takes the card's.
        """
        from .pipelines import draw_samples

        o = self._defaults(
            guidance_scale=guidance_scale, steps=steps, limit=limit,
            dynamic_threshold=dynamic_threshold,
        )
        limit = str(o.get("limit", "static"))
        if limit not in LIMITS:
            raise ValueError(f"limit must be one of {', '.join(LIMITS)}; got {limit!r}")
        return draw_samples(
            self.parts["base"],
            num_samples,
            prompt=_prompts(prompt, num_samples),
            seed=seed,
            guidance_scale=float(o.get("guidance_scale", 3.0)),
            steps=int(o.get("steps", 50)),
            dynamic_threshold=float(o.get("dynamic_threshold", 0.95)) if limit == "dynamic" else None,
            clip_x0=limit == "static",
        )

    @torch.no_grad()
    def sample(
        self,
        prompt: str | Sequence[str],
        num_samples: int,
        *,
        seed: int = 0,
        guidance_scale: float | None = None,
        steps: int | None = None,
        limit: str | None = None,
        aug_level: float | None = None,
        upsampler_steps: int | None = None,
        return_low_res: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """(N, 1, 28, 28) images for the prompt(s) (and the 14x14 ones with ``return_low_res``).

        Options left at None take the system card's ``sampling`` defaults.
        """
        low = self.sample_low_res(
            prompt,
            num_samples,
            seed=seed,
            guidance_scale=guidance_scale,
            steps=steps,
            limit=limit,
        )
        o = self._defaults(aug_level=aug_level, upsampler_steps=upsampler_steps)
        high = self._upsample(low, o, torch.Generator().manual_seed(seed + 1))
        return (high, low) if return_low_res else high


class UnCLIPSystem(_System):
    """unCLIP: CLIP text tower -> diffusion prior -> 14x14 decoder -> 14 -> 28 super-resolution."""

    @torch.no_grad()
    def image_embeddings(
        self,
        prompt: str | Sequence[str],
        num_samples: int,
        *,
        seed: int = 0,
        prior_guidance_scale: float | None = None,
    ) -> Tensor:
        """Scaled CLIP image embeddings (N, D) that the prior produces for the prompt(s)."""
        from .unclip import sample_prior, scale_embeddings

        o = self._defaults(prior_guidance_scale=prior_guidance_scale)
        text = scale_embeddings(self.parts["clip"].model.encode_prompts(_prompts(prompt, num_samples)))  # type: ignore[operator]
        return sample_prior(
            self.parts["prior"].model,  # type: ignore[arg-type]
            text,
            num_steps=int(o.get("prior_steps", 64)),
            guidance_scale=float(o.get("prior_guidance_scale", 1.0)),
            generator=torch.Generator().manual_seed(seed),
        )

    @torch.no_grad()
    def decode(
        self,
        embeddings: Tensor,
        generator: torch.Generator,
        *,
        guidance_scale: float | None = None,
        steps: int | None = None,
        aug_level: float | None = None,
        upsampler_steps: int | None = None,
        return_low_res: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Images (N, 1, 28, 28) from scaled CLIP image embeddings (N, D): decoder, then upsampler."""
        from .reverse_process import sample_ddim

        o = self._defaults(
            guidance_scale=guidance_scale, steps=steps, aug_level=aug_level,
            upsampler_steps=upsampler_steps,
        )
        dec = self.parts["decoder"]
        cfg = dec.model.config
        device = next(dec.model.parameters()).device
        low = sample_ddim(
            dec.model,
            dec.schedule,  # type: ignore[arg-type]
            (embeddings.shape[0], cfg.in_channels, cfg.image_size, cfg.image_size),
            num_steps=int(o.get("steps", 50)),
            cond=embeddings.to(device),
            guidance_scale=float(o.get("guidance_scale", 3.0)),
            dynamic_threshold=o.get("dynamic_threshold"),
            clip_x0=bool(o.get("clip_x0", True)) and o.get("dynamic_threshold") is None,
            generator=generator,
            device=device,
        ).cpu()
        high = self._upsample(low, o, generator)
        return (high, low) if return_low_res else high

    @torch.no_grad()
    def sample(
        self,
        prompt: str | Sequence[str],
        num_samples: int,
        *,
        seed: int = 0,
        guidance_scale: float | None = None,
        steps: int | None = None,
        prior_guidance_scale: float | None = None,
        aug_level: float | None = None,
        upsampler_steps: int | None = None,
    ) -> Tensor:
        """(N, 1, 28, 28) images for the prompt(s): prior, then decoder and upsampler."""
        z = self.image_embeddings(
            prompt, num_samples, seed=seed, prior_guidance_scale=prior_guidance_scale
        )
        out = self.decode(
            z,
            torch.Generator().manual_seed(seed + 1),
            guidance_scale=guidance_scale,
            steps=steps,
            aug_level=aug_level,
            upsampler_steps=upsampler_steps,
        )
        assert isinstance(out, Tensor)
        return out

    @torch.no_grad()
    def variations(
        self,
        images: Tensor,
        num_variations: int = 4,
        *,
        seed: int = 0,
        steps: int | None = None,
        upsampler_steps: int | None = None,
    ) -> Tensor:
        """(B, num_variations, 1, 28, 28): each image's CLIP embedding decoded with fresh noise."""
        from .unclip import image_variations

        def decode(z: Tensor, g: torch.Generator) -> Tensor:
            out = self.decode(z, g, steps=steps, upsampler_steps=upsampler_steps)
            assert isinstance(out, Tensor)
            return out

        return image_variations(
            self.parts["clip"].model,  # type: ignore[arg-type]
            decode,
            images,
            num_variations,
            seed=seed,
        )


_SYSTEM_CLASSES: dict[str, type[_System]] = {"imagen": ImagenSystem, "unclip": UnCLIPSystem}


def load_system(spec: str | Path, *, device: str = "cpu") -> ImagenSystem | UnCLIPSystem:
    """Load a system by name or card path, with every part it names (sha256 checked).

    Raises:
        FileNotFoundError: no such system card.
        CheckpointError: a part is missing or has changed since the system was assembled.
    """
    card_path = find_system_card(spec)
    if card_path is None:
        raise FileNotFoundError(f"{str(spec)!r} is not a system card (looked in {checkpoint_dirs()[0]} and the other checkpoint folders)")
    card = read_card(card_path)
    system = _SYSTEM_CLASSES[card["system"]](card=card, parts=_load_parts(card, device))
    return system  # type: ignore[return-value]


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
