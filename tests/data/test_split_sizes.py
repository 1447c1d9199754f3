"""The package's functions that read MNIST take any split size and any order.

Offline the splits have 4,000 / 1,000 digits sorted by class; online, torchvision's 60,000 /
10,000 in their own order. Here they run on torchvision's raw files written from the offline
digits in other counts (``tools/fake_torchvision_mnist.py``), with a held-out split larger
than the 1,000 and 500 digits the functions evaluate on.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from ddpm_tutorial.data import load_mnist
from ddpm_tutorial.data.mnist import ROOT_ENV
from ddpm_tutorial.systems.dalle import run_dalle_training
from ddpm_tutorial.systems.latent_diffusion import run_autoencoder_training

TOOLS = Path(__file__).resolve().parents[2] / "tools"
NUM_TRAIN, NUM_TEST = 300, 1200


@pytest.fixture(scope="module")
def other_split_root(tmp_path_factory):
    sys.path.insert(0, str(TOOLS))
    try:
        from fake_torchvision_mnist import write_fake_torchvision_mnist
    finally:
        sys.path.remove(str(TOOLS))
    root = tmp_path_factory.mktemp("mnist-other-split")
    return write_fake_torchvision_mnist(root, num_train=NUM_TRAIN, num_test=NUM_TEST, seed=3)


@pytest.fixture
def on_other_split(other_split_root, monkeypatch):
    """``load_mnist`` reads the 300 / 1,200 torchvision root by default."""
    monkeypatch.setenv(ROOT_ENV, str(other_split_root))
    assert len(load_mnist("test", source="torchvision", verbose=False)) == NUM_TEST


def test_autoencoder_training_runs_on_any_split_size(on_other_split, tmp_path):
    torch.manual_seed(0)
    card = run_autoencoder_training(tmp_path, steps=2, data_source="torchvision")
    assert card["data"]["num_images"] == NUM_TRAIN and card["data"]["source"] == "torchvision"
    metrics = card["metrics"]
    assert metrics["evaluated_on"] == f"torchvision test split, {NUM_TEST} digits"
    for key in ("posterior_std_mean", "latent_mean_std", "kl_per_image"):
        assert math.isfinite(metrics[key]), key


def test_dalle_training_runs_on_any_split_size(on_other_split, tmp_path):
    card = run_dalle_training(tmp_path, steps=1, vq_steps=2, data_source="torchvision")
    assert card["data"]["num_images"] == NUM_TRAIN
    assert math.isfinite(card["metrics"]["heldout_image_ce"])
    assert card["metrics"]["codebook"], "codebook usage over the held-out tokens"
