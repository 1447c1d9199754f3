"""SuperResNet: an untrained network is bilinear upsampling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddpm_tutorial.models import SuperResConfig, SuperResNet


def test_untrained_network_equals_bilinear_upsampling():
    low = torch.rand(2, 1, 14, 14) * 2 - 1
    net = SuperResNet(SuperResConfig(channels=8, num_blocks=1))
    up = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)
    assert net(low).shape == (2, 1, 28, 28)
    assert torch.equal(net(low), up)


def test_wrong_input_size_raises():
    with pytest.raises(ValueError, match=r"\(B, 1, 14, 14\)"):
        SuperResNet()(torch.zeros(1, 1, 28, 28))
