"""Mixed precision: the choice resolves per device, autocast does what it says, training keeps
float32 weights, and attention under bfloat16 matches float32."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddpm_tutorial import precision as P
from ddpm_tutorial.losses import noise_prediction_loss
from ddpm_tutorial.models import UNet, UNetConfig
from ddpm_tutorial.models.attention import attention
from ddpm_tutorial.runs import get_config
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.training import train_denoiser

from .conftest import TINY_UNET


def test_explicit_precisions_resolve_to_themselves_on_any_device():
    for device in ("cpu", "cuda", "mps"):
        assert P.resolve_precision("fp32", device) == "fp32"
        assert P.resolve_precision("bf16", device) == "bf16"


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_a_cpu_follows_its_bf16_instructions(monkeypatch, native):
    monkeypatch.setattr(P, "cpu_has_native_bf16", lambda: native)
    assert P.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert P.uses_channels_last("auto", "cpu") is (not native)


def test_auto_leaves_mps_in_fp32_and_never_uses_channels_last_off_the_cpu():
    assert P.resolve_precision("auto", "mps") == "fp32"
    assert not P.uses_channels_last("fp32", "cuda")
    assert not P.uses_channels_last("bf16", "cpu")


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="fp16.*auto, fp32, bf16"):
        P.resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        get_config("mnist", "smoke", precision="half")


def test_cpu_has_native_bf16_answers_a_bool():
    assert isinstance(P.cpu_has_native_bf16(), bool)


def test_autocast_runs_convolutions_in_bf16_only_when_asked():
    conv = torch.nn.Conv2d(1, 4, 3, padding=1)
    x = torch.randn(2, 1, 8, 8)
    with P.autocast("bf16", "cpu") as name:
        assert name == "bf16" and conv(x).dtype == torch.bfloat16
    with P.autocast("fp32", "cpu") as name:
        assert name == "fp32" and conv(x).dtype == torch.float32


def test_the_loss_is_float32_under_bf16_autocast():
    torch.manual_seed(0)
    model = UNet(UNetConfig(**TINY_UNET))
    with P.autocast("bf16", "cpu"):
        loss = noise_prediction_loss(
            model, torch.rand(3, 1, 28, 28) * 2 - 1, NoiseSchedule.linear(50)
        )
    assert loss.dtype == torch.float32


def test_attention_in_bf16_on_a_cpu_matches_fp32_and_keeps_the_input_dtype():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 49, 16, generator=g) for _ in range(3))
    mask = torch.rand(2, 1, 1, 49, generator=g) > 0.3
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask)
    assert out.dtype == torch.bfloat16
    # only the bf16 rounding of the inputs and the output remains (8 mantissa bits: ~0.4%)
    assert torch.allclose(out.float(), reference, atol=3e-2, rtol=3e-2)
    assert torch.equal(attention(q, k, v, mask), reference), "fp32 goes straight through"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_keeps_float32_weights_and_learns_under_either_precision(precision):
    config = get_config(
        "mnist", "smoke", num_train_steps=12, batch_size=8, precision=precision, log_every=4
    )
    torch.manual_seed(0)
    model = UNet(config.model)
    data = torch.rand(32, 1, 28, 28) * 2 - 1
    state = train_denoiser(
        model, data, NoiseSchedule.linear(100), config, device="cpu", progress=False
    )
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert len(state.losses) == 3 and all(loss == loss for _, loss in state.losses)
    conv = model.down[0].blocks[0].conv1.weight  # (8, 8, 3, 3): the two layouts differ
    channels_last = (
        conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    )
    assert channels_last is (precision == "fp32"), "fp32 on a CPU trains channels-last"


def test_a_channels_last_model_predicts_what_the_contiguous_one_does():
    torch.manual_seed(0)
    model = UNet(UNetConfig(**TINY_UNET)).eval()
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([3, 40])
    with torch.no_grad():
        expected = model(x, t)
        model.to(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last), t)
    assert torch.allclose(got, expected, atol=1e-5)


def test_the_model_card_records_the_precision_the_run_trained_in(tmp_path):
    from ddpm_tutorial.runs import run_training

    config = get_config("mnist", "smoke", num_train_steps=2, precision="fp32", num_train_images=64)
    card = run_training(config, tmp_path, device="cpu", progress=False, command="test")
    assert card["training"]["precision"] == "fp32"
    assert card["training"]["config"]["precision"] == "fp32"
