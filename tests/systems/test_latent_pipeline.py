"""Latent diffusion end to end: train on an autoencoder's latents, sample, decode."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, save_checkpoint
from ddpm_tutorial.cli import main
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.models import Autoencoder, AutoencoderConfig
from ddpm_tutorial.runs import get_config, run_training
from ddpm_tutorial.runs.data import load_training_data
from ddpm_tutorial.systems.latent_diffusion import latent_scale
from ddpm_tutorial.systems.pipeline import draw_samples


@pytest.fixture(scope="module")
def tiny_autoencoder(tmp_path_factory):
    torch.manual_seed(0)
    ae = Autoencoder(AutoencoderConfig(channels=8)).eval()
    images = load_mnist("train", verbose=False).images[::40]
    scale = latent_scale(ae, images)
    path = tmp_path_factory.mktemp("ae") / "ae.safetensors"
    save_checkpoint(ae, path, schedule=None, card={"latent": {"shape": [4, 7, 7], "scale": scale}})
    return path


def test_latent_training_data_has_unit_variance(tiny_autoencoder):
    config = get_config("mnist-latent", "smoke", autoencoder=str(tiny_autoencoder))
    latents, cond, info = load_training_data(config)
    assert cond is None
    assert latents.shape == (config.num_train_images, 4, 7, 7)
    assert info["latent"]["shape"] == [4, 7, 7]
    assert 0.7 < float(latents.std()) < 1.3  # scaled on the full training split, here a subset


def test_a_latent_model_trains_and_samples_images_through_the_cli(tiny_autoencoder, tmp_path):
    config = get_config(
        "mnist-latent", "smoke", autoencoder=str(tiny_autoencoder), num_train_steps=3, batch_size=8
    )
    card = run_training(config, tmp_path / "run", progress=False, command="test")
    assert card["latent"]["autoencoder_sha256"] == load_checkpoint(tiny_autoencoder).card["sha256"]
    ckpt = load_checkpoint(tmp_path / "run")
    x = draw_samples(ckpt, 3, steps=2)
    assert x.shape == (3, 1, 28, 28)  # decoded: images, not latents
    out = tmp_path / "s.npy"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(tmp_path / "run"),
                "--num-samples",
                "2",
                "--steps",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert np.load(out).shape == (2, 1, 28, 28)


def test_a_changed_autoencoder_is_refused(tiny_autoencoder, tmp_path):
    config = get_config(
        "mnist-latent", "smoke", autoencoder=str(tiny_autoencoder), num_train_steps=2, batch_size=8
    )
    run_training(config, tmp_path / "run", progress=False, command="test")
    card_path = tmp_path / "run" / "model.json"
    card = json.loads(card_path.read_text())
    card["latent"]["autoencoder_sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    with pytest.raises(ValueError, match="autoencoder with sha256"):
        draw_samples(load_checkpoint(tmp_path / "run", verify=False), 1, steps=2)
