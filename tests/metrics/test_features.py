"""The FID's feature networks: the three-block readout, its scales, and training with a card."""

from __future__ import annotations

import json

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, read_card
from ddpm_tutorial.cli import main
from ddpm_tutorial.data.mnist import MNISTData, load_mnist
from ddpm_tutorial.metrics.features import fit_block_scales
from ddpm_tutorial.models import FeatureNet, StyleFeatureNet, build_model

SMALL_SUITE = {"n": 100, "repeats": 0, "floor_draws": 3, "families": {"blur": (0.6, 1.0)}}


@pytest.fixture
def small_splits(monkeypatch):
    """Every fifth digit of each split: the point of a two-step training is its card."""

    def load(split, **kwargs):
        data = load_mnist(split, **kwargs)
        return MNISTData(data.images[::5], data.labels[::5], data.source, data.split)

    monkeypatch.setattr("ddpm_tutorial.metrics.features.load_mnist", load)
    monkeypatch.setattr("ddpm_tutorial.metrics.features.SUITE_SETTINGS", SMALL_SUITE)


@pytest.fixture(scope="module")
def digits():
    return load_mnist("test", verbose=False).images[::4]  # 250 digits, every class


def test_the_readout_is_stroke_parts_and_class_blocks_of_one_feature_net(digits):
    torch.manual_seed(0)
    net = fit_block_scales(StyleFeatureNet(), digits)
    x = digits[:8]
    f = net.features(x)
    h1, h2, h3 = net.net.stages(x)
    assert f.shape == (8, 160) == (8, net.feature_dim)
    s = net.block_scale
    assert torch.allclose(f[:, net.blocks["stroke"]], h1.mean(dim=(2, 3)) * s[0])
    assert torch.allclose(f[:, net.blocks["parts"]], h2.mean(dim=(2, 3)) * s[1])
    assert torch.allclose(f[:, net.blocks["class"]], net.net.features(x) * s[2])
    assert net(x).shape == (8, 10)  # it is still a digit classifier


def test_fitted_scales_give_every_block_mean_variance_one(digits):
    net = fit_block_scales(StyleFeatureNet(), digits)
    f = net.features(digits).detach().double()
    for name, cols in net.blocks.items():
        assert float(f[:, cols].var(dim=0).mean()) == pytest.approx(1.0, rel=1e-4), name


def test_the_scales_are_saved_with_the_weights_and_unfitted_scales_refuse_to_run(digits):
    net = fit_block_scales(StyleFeatureNet(), digits)
    again = build_model("style-feature-net", {}).eval()
    with pytest.raises(RuntimeError, match="fit_block_scales"):
        again.features(digits[:2])
    again.load_state_dict(net.state_dict())
    assert torch.equal(again.features(digits[:4]), net.features(digits[:4]))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        net.features(digits[:2, 0])
    with pytest.raises(ValueError, match="at least 2 images"):
        fit_block_scales(net, digits[:1])


def test_train_features_writes_a_style_checkpoint_whose_card_holds_the_suite(
    tmp_path, capsys, small_splits
):
    argv = ["train-features", "--out", str(tmp_path), "--steps", "2", "--threads", "1"]
    assert main(argv) == 0
    card = read_card(tmp_path / "model.json")
    assert card["command"] == "python -m ddpm_tutorial " + " ".join(argv)
    assert card["name"] == "mnist-style-features" and card["model"]["kind"] == "style-feature-net"
    every_fifth = len(load_mnist("train", verbose=False).images[::5])
    assert card["data"]["split"] == "train" and card["data"]["num_images"] == every_fifth
    metrics = card["metrics"]
    assert json.loads(capsys.readouterr().out) == metrics
    assert set(metrics["block_scales"]) == {"stroke", "parts", "class"}
    suite = metrics["sensitivity"]
    assert suite["n"] == 100 and set(suite["families"]) == {"blur"}
    assert "criterion" in suite and "floor" in suite
    loaded = load_checkpoint(tmp_path).model
    assert isinstance(loaded, StyleFeatureNet) and bool((loaded.block_scale > 0).all())


def test_the_first_recipe_stays_reachable_as_kind_feature_net(tmp_path, small_splits, monkeypatch):
    monkeypatch.setattr("ddpm_tutorial.metrics.validation.VALIDATION_STRENGTHS", {"blur": (1.0,)})
    argv = ["train-features", "--kind", "feature-net", "--out", str(tmp_path), "--steps", "2"]
    assert main([*argv, "--threads", "1"]) == 0
    card = read_card(tmp_path / "model.json")
    assert card["name"] == "mnist-features" and card["model"]["kind"] == "feature-net"
    assert "fid_validation" in card["metrics"] and "sensitivity" in card["metrics"]
    assert isinstance(load_checkpoint(tmp_path).model, FeatureNet)
