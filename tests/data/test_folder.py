"""A folder of images: any size, gray or colour, to the model's size and channels in [-1, 1], and a
one-line error for every folder that cannot be used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_tutorial.data import load_image_folder


def _save(folder: Path, name: str, pixels: np.ndarray, mode: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(folder / name)


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A gray 20x60 image, a red 30x20 one in a subfolder, and a text file to ignore."""
    gray = np.zeros((20, 60), dtype=np.uint8)
    gray[:, :5] = gray[:, 55:] = 255  # white edges, far outside the central 20x20 square
    _save(tmp_path, "a_gray.png", gray)
    red = np.zeros((30, 20, 3), dtype=np.uint8)
    red[..., 0] = 255
    _save(tmp_path / "more", "b_red.jpg", red)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_images_are_resized_centre_cropped_and_scaled_to_minus_one_one(mixed):
    loaded = load_image_folder(mixed, image_size=8, channels=3)
    assert loaded.images.shape == (2, 3, 8, 8) and loaded.images.dtype == torch.float32
    assert [f.name for f in loaded.files] == ["a_gray.png", "b_red.jpg"], "sorted, recursive"
    assert loaded.modes == {"gray": 1, "rgb": 1} and loaded.folder == mixed.resolve()
    assert float(loaded.images.min()) >= -1.0 and float(loaded.images.max()) <= 1.0
    gray, red = loaded.images
    assert torch.allclose(gray, torch.full_like(gray, -1.0), atol=0.05), "the crop is central"
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2]), "gray in R, G, B"
    assert float(red[0].mean()) > 0.95 and float(red[1:].abs().sub(1).abs().max()) < 0.1


def test_a_one_channel_model_gets_the_luminance_of_colour_images(mixed):
    loaded = load_image_folder(mixed, image_size=8, channels=1)
    assert loaded.images.shape == (2, 1, 8, 8)
    red_luminance = 0.299 * 255 / 127.5 - 1  # ITU-R BT.601: L = 0.299 R + 0.587 G + 0.114 B
    assert float(loaded.images[1].mean()) == pytest.approx(red_luminance, abs=0.02)


def test_transparent_pixels_are_laid_over_white(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # black, fully transparent
    _save(tmp_path, "clear.png", rgba, "RGBA")
    assert float(load_image_folder(tmp_path, 4, 3).images.min()) == 1.0


def test_sixteen_bit_gray_images_are_scaled_not_clipped(tmp_path):
    _save(tmp_path, "deep.png", np.full((4, 4), 32768, dtype=np.uint16))
    assert float(load_image_folder(tmp_path, 4, 1).images.mean()) == pytest.approx(0.0, abs=0.01)


def test_a_folder_without_images_says_what_it_looked_for(tmp_path):
    (tmp_path / "readme.md").write_text("#")
    with pytest.raises(ValueError, match=r"no images in '.*'; looked for files ending in \.png"):
        load_image_folder(tmp_path, 8)


def test_an_unreadable_image_is_named(mixed):
    (mixed / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"cannot read '.*broken\.png' as an image"):
        load_image_folder(mixed, 8)


def test_a_path_that_is_missing_or_a_file_is_refused(mixed):
    with pytest.raises(FileNotFoundError, match="the path does not exist"):
        load_image_folder(mixed / "nowhere", 8)
    with pytest.raises(ValueError, match="is a file, not a folder of images"):
        load_image_folder(mixed / "a_gray.png", 8)


@pytest.mark.parametrize(
    "size, channels, message",
    [(0, 3, "image_size must be >= 1; got 0"), (8, 4, "channels must be 1 .* or 3 .*; got 4")],
)
def test_a_size_or_channel_count_out_of_range_is_refused(mixed, size, channels, message):
    with pytest.raises(ValueError, match=message):
        load_image_folder(mixed, size, channels)
