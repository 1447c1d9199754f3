"""`sample` draws from every kind of checkpoint that `train` writes and from every shipped one.

Images go to .npy as (N, C, H, W) and to .png as a grid; the 2-D toys' points go to .npy as
(N, D) and to .png as a scatter plot. A checkpoint that draws nothing on its own (a classifier,
a part of a cascade) is refused in one line with exit status 2, never with a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from ddpm_tutorial.cli import main
from ddpm_tutorial.plotting import save_scatter
from ddpm_tutorial.runs import CONFIG_NAMES

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "checkpoints"
PNG = b"\x89PNG\r\n\x1a\n"
PROMPT = ["--prompt", "a handwritten 7"]


def run_cli(argv: list[str]) -> int:
    """main() returns the exit status; argparse exits with SystemExit instead."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


def _train(config: str, out: Path, *extra: str) -> None:
    """`train --config CONFIG --profile smoke` for one optimizer step of a batch of 4."""
    argv = ["train", "--config", config, "--profile", "smoke", "--out", str(out)]
    argv += ["--no-progress", "--num-train-steps", "1", "--batch-size", "4", *extra]
    assert run_cli(argv) == 0


def test_a_toy_moons_run_samples_points_to_npy_and_a_scatter_plot_to_png(
    tmp_path, quick_heldout_loss, capsys
):
    run = tmp_path / "moons"
    _train("toy-moons", run, "--num-train-steps", "5")
    capsys.readouterr()
    argv = ["sample", "--checkpoint", str(run), "--num-samples", "300", "--steps", "5"]
    assert run_cli([*argv, "--out", str(tmp_path / "m.npy")]) == 0
    points = np.load(tmp_path / "m.npy")
    assert points.shape == (300, 2) and points.dtype == np.float32 and np.isfinite(points).all()
    assert "wrote 300 samples of shape (2,)" in capsys.readouterr().out
    assert run_cli([*argv, "--out", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG
    assert matplotlib.image.imread(tmp_path / "m.png").shape[:2] == (400, 400)  # 4 in at 100 dpi


def test_a_scatter_plot_needs_points_of_shape_n_by_2(tmp_path):
    save_scatter(np.zeros((5, 2)), tmp_path / "ok.png", title="five")
    assert (tmp_path / "ok.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match=r"needs points of shape \(N, 2\); got \(5, 3\)"):
        save_scatter(torch.zeros(5, 3), tmp_path / "bad.png")


#: config -> (sample flags, the shape of one sample, or the refusal printed)
TRAINED = {
    "mnist": ([], (1, 28, 28)),
    "mnist-class": (["--label", "3"], (1, 28, 28)),
    "mnist-text": (PROMPT, (1, 28, 28)),
    "mnist-latent": ([], (1, 28, 28)),  # 4 x 7 x 7 latents, decoded
    "mnist-sd": (PROMPT, (1, 28, 28)),
    "mnist-flow": (["--sampler", "heun"], (1, 28, 28)),
    "mnist-flow-text": (PROMPT, (1, 28, 28)),
    "mnist-dit": (["--sampler", "heun"], (1, 28, 28)),
    "mnist-mmdit": (PROMPT, (1, 28, 28)),
    "mnist-imagen-sr": ([], "a part of a cascade"),
    "toy-gmm": ([], (2,)),
    "toy-swissroll": ([], (2,)),
}
#: configs left out here, each with the test that covers its kind
NOT_TRAINED_HERE = {
    "toy-moons": "test_a_toy_moons_run_samples_points_to_npy_and_a_scatter_plot_to_png",
    # the frozen MiniLM encodes every caption (seconds); same kind of network as mnist-text
    "mnist-text-minilm": "the shipped mnist-text-minilm below",
    "mnist-imagen-base": "the shipped mnist-imagen-base below",
    # CLIP embeds every digit; a part of a cascade, refused like mnist-imagen-sr
    "mnist-unclip-decoder": "the shipped mnist-unclip-decoder below",
    # the student starts from the shipped mnist-flow and trains on its pairs
    "mnist-reflow": "tests/runs/test_reflow.py and the shipped mnist-reflow below",
}


def test_every_config_is_sampled_here_or_names_the_test_that_covers_it():
    assert set(TRAINED) | set(NOT_TRAINED_HERE) == set(CONFIG_NAMES)
    assert not set(TRAINED) & set(NOT_TRAINED_HERE)


@pytest.mark.parametrize("config", list(TRAINED))
def test_a_checkpoint_that_train_writes_samples_to_npy(
    config, tmp_path, quick_heldout_loss, capsys
):
    flags, expected = TRAINED[config]
    _train(config, tmp_path / "run")
    capsys.readouterr()
    out = tmp_path / "s.npy"
    argv = ["sample", "--checkpoint", str(tmp_path / "run"), "--num-samples", "2"]
    status = run_cli([*argv, "--steps", "2", *flags, "--out", str(out)])
    if isinstance(expected, str):
        err = capsys.readouterr().err
        assert status == 2 and expected in err and err.count("\n") == 1, err
        return
    assert status == 0
    x = np.load(out)
    assert x.shape == (2, *expected) and x.dtype == np.float32 and np.isfinite(x).all()


def _shipped() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.json"))


#: shipped checkpoint -> the flags it samples with, or the reason it is refused
SHIPPED_FLAGS: dict[str, list[str] | str] = {
    "mnist-autoencoder": "draws no samples",
    "mnist-classifier": "draws no samples",
    "mnist-clip": "draws no samples",
    "mnist-features": "draws no samples",
    "mnist-noisy-classifier": "draws no samples",
    "mnist-style-features": "draws no samples",
    "mnist-imagen-sr": "a part of a cascade",
    "mnist-unclip-decoder": "a part of a cascade",
    "mnist-unclip-prior": "a part of a cascade",
    "mnist-unclip-prior-regression": "a part of a cascade",
    "mnist-dalle": PROMPT,  # autoregressive: no --steps
    "mnist-reflow": [],  # the few-step student at its card's own 4 Euler steps
    "mnist-imagen": [*PROMPT, "--steps", "2", "--upsampler-steps", "2"],
    "mnist-unclip": [*PROMPT, "--steps", "2", "--upsampler-steps", "2"],
}


@pytest.mark.parametrize("name", _shipped())
def test_every_shipped_checkpoint_samples_or_says_in_one_line_why_not(name, tmp_path, capsys):
    card = json.loads((SHIPPED / f"{name}.json").read_text())
    default = [*PROMPT] if card.get("conditioning") == "text" else []
    flags = SHIPPED_FLAGS.get(name, [*default, "--steps", "2"])
    out = tmp_path / "s.npy"
    argv = ["sample", "--checkpoint", name, "--num-samples", "2", "--out", str(out)]
    if isinstance(flags, str):
        assert run_cli(argv) == 2
        err = capsys.readouterr().err
        assert flags in err and err.count("\n") == 1, err
        return
    assert run_cli([*argv, *flags]) == 0, capsys.readouterr().err
    x = np.load(out)
    size = 14 if name == "mnist-imagen-base" else 28  # the cascade's 14x14 base model
    assert x.shape == (2, 1, size, size) and x.dtype == np.float32 and np.isfinite(x).all()
