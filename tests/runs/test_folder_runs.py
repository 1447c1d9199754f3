"""Training on a folder of images: the config's checks, the data a run gets, the card it writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddpm_tutorial.models import MLPConfig
from ddpm_tutorial.runs import get_config, load_training_data, run_training
from ddpm_tutorial.runs.config import TrainConfig, folder_of


@pytest.fixture
def folder(tmp_path) -> Path:
    """Six random 20x20 images: three gray, three colour."""
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    for i in range(6):
        shape = (20, 20) if i % 2 else (20, 20, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(images / f"{i}.png")
    return images


def rgb_config(folder: Path, **fields) -> TrainConfig:
    model = {"image_size": 16, "in_channels": 3, "out_channels": 3}
    return get_config("mnist", "smoke", dataset=f"folder:{folder}", model=model, **fields)


def test_folder_of_reads_the_path_of_a_folder_dataset():
    assert folder_of("folder:/data/cats") == "/data/cats" and folder_of("mnist") is None


@pytest.mark.parametrize(
    "fields, model, message",
    [
        ({"dataset": "folder:"}, {}, "names no folder; write folder:PATH"),
        ({"conditioning": "class"}, {}, "has no labels or captions; conditioning must be 'none'"),
        ({}, {"in_channels": 4, "out_channels": 4}, r"1 \(gray\) or 3 \(RGB\) channels"),
        ({}, {"out_channels": 1}, "got in_channels=3, out_channels=1"),
        ({"resolution": 14}, {}, r"resized to the model's image_size \(16\)"),
        ({"autoencoder": "mnist-autoencoder"}, {}, "needs the mnist dataset, not a folder"),
    ],
)
def test_a_folder_config_that_cannot_train_is_refused_in_one_sentence(
    folder, fields, model, message
):
    with pytest.raises(ValueError, match=message):
        get_config(
            "mnist",
            "smoke",
            **{"dataset": f"folder:{folder}", **fields},
            model={"image_size": 16, "in_channels": 3, "out_channels": 3, **model},
        )


def test_a_folder_trains_the_unet_not_the_mlp(folder):
    with pytest.raises(ValueError, match="a folder of images trains the unet model; got 'mlp'"):
        TrainConfig(dataset=f"folder:{folder}", model_kind="mlp", model=MLPConfig())


def test_an_image_size_the_network_cannot_halve_is_refused(folder):
    with pytest.raises(ValueError, match="image_size 15 cannot be halved"):
        get_config("mnist", "smoke", dataset=f"folder:{folder}", model={"image_size": 15})


def test_the_training_data_of_a_folder_follow_the_model_and_describe_themselves(folder):
    images, cond, info = load_training_data(rgb_config(folder, num_train_images=4))
    assert images.shape == (4, 3, 16, 16) and cond is None
    assert info["dataset"] == "folder" and info["folder"] == str(folder.resolve())
    assert info["num_images"] == 4 and info["num_files"] == 6
    assert info["files_by_mode"] == {"gray": 3, "rgb": 3}
    with pytest.raises(ValueError, match="only a training split"):
        load_training_data(rgb_config(folder), split="test")


def test_a_run_on_a_folder_writes_a_card_with_its_data_and_no_held_out_loss(
    folder, tmp_path, quick_heldout_loss
):
    config = rgb_config(folder, num_train_steps=2, batch_size=4, checkpoint_every=0)
    card = run_training(config, tmp_path / "run", device="cpu", progress=False, command="test")
    assert card["data"]["source"] == "folder" and card["data"]["num_images"] == 6
    assert card["training"]["config"]["dataset"] == f"folder:{folder}"
    assert card["metrics"]["heldout_loss"] is None
    assert np.isfinite(card["metrics"]["loss_on_training_images"])
