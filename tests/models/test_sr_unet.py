"""The super-resolution diffusion UNet: noise-conditioning augmentation and its conditioning."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, save_checkpoint
from ddpm_tutorial.models import SuperResUNet, SuperResUNetConfig
from ddpm_tutorial.models.sr_unet import augment_low_res
from ddpm_tutorial.schedules import NoiseSchedule

TINY = dict(
    base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_heads=2, attention_resolutions=()
)


def test_augmentation_is_variance_preserving_and_exact_at_the_ends():
    y = torch.randn(4000, 1, 2, 2)
    same, levels = augment_low_res(y, 0.0)
    assert torch.equal(same, y) and torch.equal(levels, torch.zeros(4000))
    noisy, _ = augment_low_res(y, 0.6, torch.Generator().manual_seed(0))
    # sqrt(1 - s^2) y + s eps keeps unit variance for unit-variance y
    assert noisy.var().item() == pytest.approx(1.0, abs=0.05)
    assert torch.corrcoef(torch.stack([noisy.flatten(), y.flatten()]))[0, 1] == pytest.approx(
        0.8, abs=0.03
    )
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        augment_low_res(y, 1.0)
    with pytest.raises(ValueError, match="tensor"):
        augment_low_res(y, torch.zeros(3))


def test_config_derives_the_conditioning_fields():
    cfg = SuperResUNetConfig(**TINY)
    assert cfg.cond_image_channels == 1 and cfg.cond_dim == cfg.aug_dim
    assert cfg.unet_config().conditioning == ("pooled", "image")
    with pytest.raises(ValueError, match="cond_dim"):
        SuperResUNetConfig(**TINY, cond_dim=5)
    with pytest.raises(ValueError, match="multiple"):
        SuperResUNetConfig(**TINY, low_res_size=10)
    with pytest.raises(ValueError, match="max_aug_level"):
        SuperResUNetConfig(**TINY, max_aug_level=1.0)


def test_forward_shapes_training_augmentation_and_eval_mode():
    torch.manual_seed(0)
    model = SuperResUNet(SuperResUNetConfig(**TINY))
    for p in model.parameters():  # zero-initialised output convs would hide the conditioning
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(3, 1, 28, 28)
    t = torch.tensor([1, 50, 900])
    low = torch.rand(3, 1, 14, 14) * 2 - 1
    model.train()
    a, b = model(x, t, low), model(x, t, low)
    assert a.shape == x.shape and not torch.allclose(a, b)  # a new augmentation each call
    model.eval()
    c, d = model(x, t, low), model(x, t, low)
    assert torch.equal(c, d)  # eval mode: clean, level 0
    explicit = model(x, t, {"low_res": low, "aug_level": torch.zeros(3)})
    assert torch.allclose(c, explicit)
    other = model(x, t, {"low_res": -low, "aug_level": torch.zeros(3)})
    assert not torch.allclose(c, other)  # the low-resolution image matters
    louder = model(x, t, {"low_res": low, "aug_level": torch.full((3,), 0.4)})
    assert not torch.allclose(c, louder)  # and so does the level it is told
    with pytest.raises(ValueError, match="low_res"):
        model(x, t, {"low_res": low})
    with pytest.raises(ValueError, match="shape"):
        model(x, t, torch.zeros(3, 1, 7, 7))
    with pytest.raises(ValueError, match="needs the low-resolution"):
        model(x, t, None)


def test_round_trips_through_a_checkpoint(tmp_path):
    model = SuperResUNet(SuperResUNetConfig(**TINY)).eval()
    save_checkpoint(model, tmp_path / "sr.safetensors", schedule=NoiseSchedule.linear(50))
    loaded = load_checkpoint(tmp_path / "sr.safetensors")
    assert isinstance(loaded.model, SuperResUNet)
    assert loaded.model.config == model.config
