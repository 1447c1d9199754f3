"""The systems of Parts IV and V, one file each: its recipe (how its parts are trained) and its pipeline.

* :mod:`~ddpm_tutorial.systems.pipeline`: any single checkpoint sampled with its card's
  defaults (unconditional, class, text, latent);
* :mod:`~ddpm_tutorial.systems.latent_diffusion`: the autoencoder and its latent space (4.1.2-3);
* :mod:`~ddpm_tutorial.systems.super_resolution`: 14 -> 28 upsampling, regression and diffusion;
* :mod:`~ddpm_tutorial.systems.clip`: CLIP trained on captioned digits;
* :mod:`~ddpm_tutorial.systems.unclip`: DALL-E 2's prior, decoder and upsampler (4.3);
* :mod:`~ddpm_tutorial.systems.dalle`: the first DALL-E, image tokens and a transformer (4.3);
* :mod:`~ddpm_tutorial.systems.imagen`: Imagen's cascade (4.4);
* :mod:`~ddpm_tutorial.systems.classifier_guidance`: a noisy classifier that steers an
  unconditional model (Part V);
* :mod:`~ddpm_tutorial.systems.assembly`: a system's card and its parts.

:func:`load_system` loads a system of several checkpoints by one name (``mnist-imagen``).
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import checkpoint_names, read_card, unknown_name_message
from .assembly import SYSTEM_PARTS, System, find_system_card, load_parts, write_system_card
from .imagen import ImagenSystem
from .pipeline import draw_samples
from .unclip import UnCLIPSystem

__all__ = [
    "SYSTEM_CLASSES",
    "SYSTEM_PARTS",
    "ImagenSystem",
    "System",
    "UnCLIPSystem",
    "draw_samples",
    "find_system_card",
    "load_system",
    "write_system_card",
]

#: the kind named in a system card -> the class that samples it
SYSTEM_CLASSES: dict[str, type[System]] = {"imagen": ImagenSystem, "unclip": UnCLIPSystem}


def load_system(spec: str | Path, *, device: str = "cpu") -> ImagenSystem | UnCLIPSystem:
    """Load a system by name or card path, with every part it names (sha256 checked).

    Args:
        spec: a bare name such as ``"mnist-imagen"`` (looked up like a checkpoint's, see
            :func:`~ddpm_tutorial.checkpoints.checkpoint_dirs`) or the path of a system card.
        device: where every part is loaded.

    Raises:
        FileNotFoundError: no such system card; for a bare name, the error names the systems
            and checkpoints there are and suggests the nearest ("did you mean mnist-imagen?"),
            or says that the name is one checkpoint, to load with ``load_checkpoint``.
        CheckpointError: a part is missing or has changed since the system was assembled.
    """
    card_path = find_system_card(spec)
    if card_path is None:
        path = Path(spec)
        if path.parent != Path(".") or path.suffix:
            what = "is not a system card" if path.is_file() else "does not exist"
            raise FileNotFoundError(f"system card {str(spec)!r} {what}")
        if checkpoint_names().get(path.name) == "checkpoint":
            raise FileNotFoundError(
                f"{path.name!r} is one checkpoint, not a system of several networks: load it "
                "with ddpm_tutorial.checkpoints.load_checkpoint"
            )
        raise FileNotFoundError(unknown_name_message(path.name, kind="system", prefer="system"))
    card = read_card(card_path)
    system = SYSTEM_CLASSES[card["system"]](card=card, parts=load_parts(card, device))
    return system  # type: ignore[return-value]
