"""FeatureNet: shapes, non-negative features, loud errors."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.models import FeatureNet, FeatureNetConfig, build_model


def test_features_and_logits_have_the_documented_shapes():
    net = FeatureNet(FeatureNetConfig(channels=8, feature_dim=16)).eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    f = net.features(x)
    assert f.shape == (3, 16) and (f >= 0).all()
    assert net(x).shape == (3, 10)
    assert isinstance(build_model("feature-net", {"channels": 8}), FeatureNet)


def test_bad_inputs_and_configs_raise():
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        FeatureNet().features(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="feature_dim"):
        FeatureNetConfig(feature_dim=1)
