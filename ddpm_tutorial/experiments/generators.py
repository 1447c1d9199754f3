"""What the experiments sample: a checkpoint or a system, at its card's defaults or at others.

Every experiment draws its samples here, the same way: one prompt per sample, in batches of
100, the batch starting at sample i seeded with ``seed + i``, so that two settings of one
model see the same prompts and the same noise. A setting is a dict of the card's
``sampling`` fields (``guidance_scale``, ``clip_x0``, ``limit``, ``dynamic_threshold``, ...);
:func:`with_sampling` returns the generator as if its card said so, and every row records
the settings it was drawn with (:func:`sampling_of`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..checkpoints import Checkpoint, load_checkpoint
from ..models import count_parameters
from ..models.dalle import DALLE
from ..systems import ImagenSystem, System, UnCLIPSystem, find_system_card, load_system
from ..systems.latent_diffusion import load_autoencoder
from ..systems.pipeline import draw_samples
from ..text.pretrained import load_minilm
from .scoring import Judges, heldout_pairs, score_samples

__all__ = [
    "DEFAULT_PROTOCOL",
    "Generator",
    "Protocol",
    "draw_at_defaults",
    "generator_parameters",
    "is_prompted",
    "load_generator",
    "measure",
    "sampling_of",
    "setting_label",
    "sweep",
    "text_encoder_parameters",
    "with_sampling",
]

#: a text-to-image checkpoint or a system of several networks
Generator = Checkpoint | System


def load_generator(name: str | Generator) -> Generator:
    """A checkpoint or a system (:func:`~ddpm_tutorial.systems.load_system`) by name or path.

    A generator already loaded is returned as it is.
    """
    if isinstance(name, (Checkpoint, System)):
        return name
    return load_system(name) if find_system_card(name) is not None else load_checkpoint(name)


def is_prompted(gen: Generator) -> bool:
    """Does the generator draw from prompts (every system, DALL-E, a text-conditional model)?"""
    if not isinstance(gen, Checkpoint) or isinstance(gen.model, DALLE):
        return True
    return gen.card.get("conditioning", "none") != "none"


def with_sampling(gen: Generator, settings: Mapping[str, Any]) -> Generator:
    """The generator as if its card's ``sampling`` also said ``settings`` (a shallow copy)."""
    if not settings:
        return gen
    card = {**gen.card, "sampling": {**gen.card.get("sampling", {}), **settings}}
    return dataclasses.replace(gen, card=card)


def sampling_of(gen: Generator) -> dict[str, Any]:
    """The sampling settings a generator draws with: its card's, and what it does unasked.

    A checkpoint's card that says nothing of ``clip_x0`` does not clip; an Imagen system's
    ``dynamic_threshold`` applies only under ``limit: dynamic``, so it is left out otherwise.
    """
    out = dict(gen.card.get("sampling", {}))
    if isinstance(gen, ImagenSystem):
        if out.get("limit", "static") != "dynamic":
            out.pop("dynamic_threshold", None)
    elif isinstance(gen, Checkpoint) and "sampler" in out:
        out.setdefault("clip_x0", False)
    return out


def text_encoder_parameters(ckpt: Checkpoint) -> dict[str, Any]:
    """A text-to-image checkpoint's text encoder (kind, parameters) and denoiser parameters."""
    model = ckpt.model
    encoder = getattr(model, "text_encoder", None)
    text_params = count_parameters(encoder) if encoder is not None else 0
    kind = model.config.text_encoder  # type: ignore[union-attr]
    if kind == "minilm":  # frozen and not stored in the checkpoint: count the loaded encoder
        text_params = count_parameters(load_minilm())
    return {
        "text_encoder": kind,
        "text_encoder_parameters": text_params,
        "denoiser_parameters": count_parameters(model)
        - (count_parameters(encoder) if encoder is not None else 0),
    }


def generator_parameters(gen: Generator) -> dict[str, int]:
    """Parameters used at sampling time, by part (a frozen pretrained encoder included)."""
    if isinstance(gen, System):
        parts = {role: int(p.card["model"]["parameters"]) for role, p in gen.parts.items()}
        if gen.card.get("frozen_parameters"):
            parts["frozen_text_encoder"] = int(gen.card["frozen_parameters"])
        return parts
    parts = {"denoiser": count_parameters(gen.model)}
    if getattr(gen.model.config, "text_encoder", None) == "minilm":
        parts["frozen_text_encoder"] = count_parameters(load_minilm())
    if "latent" in gen.card:
        parts["autoencoder"] = count_parameters(
            load_autoencoder(gen.card["latent"]["autoencoder"])[0]
        )
    return parts


def draw_at_defaults(
    gen: Generator,
    prompts: Sequence[str] | None,
    seed: int,
    *,
    num_samples: int | None = None,
    batch_size: int = 100,
    low_res: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Samples (N, 1, 28, 28) of a generator at its card's sampling defaults.

    Args:
        gen: a checkpoint or a system (see :func:`with_sampling` for other settings).
        prompts: one prompt per sample, or None for an unconditional checkpoint.
        seed: the batch starting at sample i is seeded with ``seed + i``.
        num_samples: how many, for an unconditional checkpoint (else ``len(prompts)``).
        batch_size: samples per batch.
        low_res: for an Imagen system, also return the base model's (N, 1, 14, 14) samples.

    Returns:
        The samples, or (samples, low-resolution samples) with ``low_res``.
    """
    n = len(prompts) if prompts is not None else num_samples
    if n is None or n < 1:
        raise ValueError(f"give prompts or num_samples >= 1; got num_samples={num_samples}")
    if low_res and not isinstance(gen, ImagenSystem):
        raise ValueError(f"low_res applies to an Imagen system; {gen.name!r} is not one")
    high, low = [], []
    for start in range(0, n, batch_size):
        B = min(batch_size, n - start)
        batch = list(prompts[start : start + B]) if prompts is not None else None
        if isinstance(gen, ImagenSystem):
            x, x_low = gen.sample(batch, B, seed=seed + start, return_low_res=True)  # type: ignore[arg-type,misc]
            low.append(x_low)
        elif isinstance(gen, UnCLIPSystem):
            x = gen.sample(batch, B, seed=seed + start)  # type: ignore[arg-type]
        else:
            x = draw_samples(gen, B, prompt=batch, seed=seed + start)
        high.append(x)
    return (torch.cat(high), torch.cat(low)) if low_res else torch.cat(high)


@dataclass(frozen=True)
class Protocol:
    """How an experiment draws and scores every row (the same for every row it compares).

    Attributes:
        num_samples: samples per row; prompted rows take the first ``num_samples`` held-out
            captions of :func:`~ddpm_tutorial.experiments.scoring.heldout_pairs`.
        seed: the sampling seed (see :func:`draw_at_defaults`), which also seeds the
            bootstraps, the floors and KID's subsets.
        resamples: bootstrap resamples of every interval.
        save_dir: also write each row's samples there as ``.npy`` (to score them again).
    """

    num_samples: int = 1000
    seed: int = 0
    resamples: int = 200
    save_dir: str | None = None

    def __post_init__(self) -> None:
        if self.num_samples < 6:
            raise ValueError(
                f"num_samples must be >= 6 (precision and recall need more than k = 5); "
                f"got {self.num_samples}"
            )

    def pairs(self) -> tuple[Tensor, list[str]]:
        """The held-out digits and the captions that prompt every row."""
        return heldout_pairs(self.num_samples, self.seed)

    def save_path(self, name: str) -> Path | None:
        """Where a row's samples go (``save_dir/NAME.npy``), or None."""
        if self.save_dir is None:
            return None
        spaced = name.replace(", ", "_").replace(" ", "-")
        safe = "".join(c if c.isalnum() or c in "=.-_" else "_" for c in spaced)
        return Path(self.save_dir) / f"{safe}.npy"


#: the protocol of every experiment unless told otherwise: 1,000 samples per row, seed 0
DEFAULT_PROTOCOL = Protocol()


def measure(
    gen: Generator,
    protocol: Protocol,
    *,
    prompted: bool | None = None,
    judges: Judges | None = None,
    name: str | None = None,
    **score_options: Any,
) -> dict[str, Any]:
    """Draw a generator's samples at its card's settings, time them, and score them.

    Args:
        gen: a checkpoint or a system, with its settings (:func:`with_sampling`).
        protocol: how many samples, the seed, the bootstrap, where samples are saved.
        prompted: sample from the held-out captions (default: if the generator takes
            prompts, :func:`is_prompted`).
        judges: the CLIP and the classifier.
        name: the saved samples' file name (default: the generator's name).
        score_options: passed to :func:`~ddpm_tutorial.experiments.scoring.score_samples`.

    Returns:
        ``sampling`` (:func:`sampling_of`), ``seconds`` (drawing), the scores, and for an
        Imagen system the base model's ``saturated`` (share of 14x14 pixels at or beyond
        +-0.98, the washed-out look of high guidance) and ``out_of_range`` (beyond +-1).
    """
    if prompted is None:
        prompted = is_prompted(gen)
    real, prompts = protocol.pairs() if prompted else (None, None)
    seed = protocol.seed
    start = time.perf_counter()
    if isinstance(gen, ImagenSystem):
        x, low = draw_at_defaults(gen, prompts, seed, low_res=True)
        extra = {
            "saturated": round(float((low.abs() >= 0.98).float().mean()), 4),
            "out_of_range": round(float((low.abs() > 1.0).float().mean()), 4),
        }
    else:
        x, extra = draw_at_defaults(gen, prompts, seed, num_samples=protocol.num_samples), {}
    seconds = time.perf_counter() - start
    assert isinstance(x, Tensor)
    path = protocol.save_path(name or gen.name)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, x.numpy())
    scores = score_samples(
        x,
        prompts,
        real=real,
        judges=judges,
        seed=seed,
        resamples=protocol.resamples,
        **score_options,
    )
    return {"sampling": sampling_of(gen), "seconds": round(seconds, 1), **extra, **scores}


def setting_label(settings: Mapping[str, Any]) -> str:
    """A short name for a row's settings: ``"w=3, clip_x0"``, ``"w=8, dynamic, p=0.995"``."""
    parts = []
    for key, value in settings.items():
        if key == "guidance_scale":
            parts.append(f"w={value:g}")
        elif key == "clip_x0":
            parts.append("clip_x0" if value else "no clip_x0")
        elif key == "limit":
            parts.append(str(value))
        elif key == "dynamic_threshold":
            parts.append(f"p={value:g}")
        elif key == "eta":
            parts.append(f"eta={value:g}")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts) or "card defaults"


def sweep(
    gen: Generator,
    settings: Sequence[Mapping[str, Any]],
    protocol: Protocol,
    judges: Judges | None = None,
) -> list[dict[str, Any]]:
    """One measured row per setting of one generator: the same prompts and seeds in every row.

    Args:
        gen: a checkpoint or a system (an unconditional one draws without prompts).
        settings: dicts of card ``sampling`` fields, one per row (see :func:`with_sampling`).
        protocol: how every row is drawn and scored.
        judges: the CLIP and the classifier.

    Returns:
        Rows of :func:`measure`, each led by its ``label`` (:func:`setting_label`); samples
        are saved as ``NAME_LABEL.npy``.
    """
    rows = []
    for s in settings:
        label = setting_label(s)
        row = measure(with_sampling(gen, s), protocol, judges=judges, name=f"{gen.name}_{label}")
        rows.append({"label": label, **row})
    return rows
