"""Super-resolution: pairs from downsampling, baselines, a short training beats bicubic."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.models import SuperResConfig
from ddpm_tutorial.systems.super_resolution import (
    downsample,
    super_resolution_report,
    train_super_resolution,
    upsample,
)


def test_downsample_averages_blocks_and_upsample_restores_the_size():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    low = downsample(x)
    assert low.shape == (1, 1, 2, 2)
    assert low[0, 0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)
    for mode in ("nearest", "bilinear", "bicubic"):
        assert upsample(low, mode=mode).shape == x.shape
    with pytest.raises(ValueError, match="divisible"):
        downsample(torch.zeros(1, 1, 5, 5))
    with pytest.raises(ValueError, match="mode"):
        upsample(low, mode="lanczos")


def test_training_beats_bicubic_on_held_out_digits():
    train = load_mnist("train", verbose=False).images[::8]
    test = load_mnist("test", verbose=False).images[:200]
    model, log = train_super_resolution(
        train, steps=60, batch_size=32, config=SuperResConfig(channels=16, num_blocks=2)
    )
    assert log[-1][1] < log[0][1]
    report = super_resolution_report(model, test)
    assert report["network"]["mse"] < report["bicubic"]["mse"] < report["nearest"]["mse"]
