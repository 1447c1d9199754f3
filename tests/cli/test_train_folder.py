"""``train --dataset folder:PATH`` on a reader's own images, its one-line refusals, and RGB
samples from the checkpoint it writes (.npy of shape (N, 3, H, W), .png grid in colour)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddpm_tutorial.cli import main
from ddpm_tutorial.plotting import image_grid

SMOKE = ["--config", "mnist", "--profile", "smoke", "--no-progress", "--threads", "1"]
RGB = ["--model.image-size", "16", "--model.in-channels", "3", "--model.out-channels", "3"]


def run_cli(argv: list[str]) -> int:
    """main() returns the exit status; argparse exits with SystemExit instead."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


def write_shapes(folder: Path, n: int = 8) -> Path:
    """n coloured squares and discs on white, 24x24 PNGs (every third one gray)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:24, :24]
    for i in range(n):
        image = np.full((24, 24, 3), 255, dtype=np.uint8)
        cy, cx = rng.integers(8, 16, 2)
        inside = (
            (np.abs(yy - cy) < 5) & (np.abs(xx - cx) < 5)
            if i % 2
            else (yy - cy) ** 2 + (xx - cx) ** 2 < 25
        )
        image[inside] = rng.integers(0, 256, 3)
        pil = Image.fromarray(image)
        (pil.convert("L") if i % 3 == 0 else pil).save(folder / f"shape{i}.png")
    return folder


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> tuple[Path, Path]:
    """A 3-channel smoke UNet trained 3 steps on 8 PNGs through the command line."""
    root = tmp_path_factory.mktemp("folder-run")
    images = write_shapes(root / "shapes")
    argv = ["train", *SMOKE, *RGB, "--dataset", f"folder:{images}", "--num-train-steps", "3"]
    assert run_cli([*argv, "--batch-size", "4", "--out", str(root / "run")]) == 0
    return images, root / "run"


def test_train_on_a_folder_writes_a_card_that_names_the_folder(folder_run, capsys):
    images, run = folder_run
    card = json.loads((run / "model.json").read_text())
    assert card["data"]["folder"] == str(images.resolve()) and card["data"]["num_images"] == 8
    assert card["data"]["files_by_mode"] == {"gray": 3, "rgb": 5}
    assert card["data"]["channels"] == 3 and card["model"]["config"]["in_channels"] == 3
    assert card["training"]["steps"] == 3 and card["metrics"]["heldout_loss"] is None


def test_sample_writes_rgb_arrays_and_a_colour_png_grid(folder_run, tmp_path):
    _, run = folder_run
    argv = ["sample", "--checkpoint", str(run), "--num-samples", "4", "--steps", "3"]
    assert run_cli([*argv, "--out", str(tmp_path / "x.npy")]) == 0
    assert run_cli([*argv, "--out", str(tmp_path / "x.png")]) == 0
    samples = np.load(tmp_path / "x.npy")
    assert samples.shape == (4, 3, 16, 16) and samples.dtype == np.float32
    png = np.asarray(Image.open(tmp_path / "x.png").convert("RGB"), dtype=np.float32) / 255
    expected = image_grid(samples).repeat(2, 0).repeat(2, 1)  # save_image_grid's scale 2
    assert png.shape == expected.shape and np.abs(png - expected).max() <= 1 / 255 + 1e-6
    assert np.abs(png[..., 0] - png[..., 1]).max() > 0.1, "the grid is in colour"


def make_bad_folder(path: Path, kind: str) -> Path:
    """A folder that cannot train: empty, missing, a file, or one with an unreadable image."""
    if kind == "empty":
        path.mkdir()
    elif kind == "a-file":
        path.write_text("not a folder")
    elif kind == "unreadable":
        write_shapes(path, 2)
        (path / "bad.png").write_bytes(b"not a png")
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty", "no images in '.*'; looked for files ending in .png"),
        ("missing", "no folder '.*': the path does not exist"),
        ("a-file", "is a file, not a folder of images"),
        ("unreadable", r"cannot read '.*bad\.png' as an image"),
    ],
)
def test_a_folder_that_cannot_train_is_one_line_on_stderr(tmp_path, capsys, kind, message):
    path = make_bad_folder(tmp_path / "data", kind)
    argv = ["train", *SMOKE, *RGB, "--dataset", f"folder:{path}", "--out", str(tmp_path / "o")]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert re.search(message, err), err


def test_an_image_size_the_network_cannot_take_is_one_line_on_stderr(tmp_path, capsys):
    images = write_shapes(tmp_path / "shapes", 2)
    argv = ["train", *SMOKE, "--dataset", f"folder:{images}", "--model.image-size", "15"]
    assert run_cli([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "image_size 15 cannot be halved" in err
