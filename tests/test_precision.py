"""Mixed precision: the choice resolves per device (a GPU by its compute capability, faked here),
autocast does what it says, training keeps float32 weights, float16 training scales its loss and
skips a step that overflows without moving the EMA, and attention under bfloat16 matches
float32."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddpm_tutorial import precision as P
from ddpm_tutorial.data import make_toy_data
from ddpm_tutorial.losses import noise_prediction_loss
from ddpm_tutorial.models import MLPConfig, MLPDenoiser, UNet, UNetConfig
from ddpm_tutorial.models.attention import attention
from ddpm_tutorial.reverse_process import at_precision
from ddpm_tutorial.runs import get_config
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.training import TrainState, train_denoiser

from .conftest import TINY_UNET


def test_explicit_precisions_resolve_to_themselves_on_any_device():
    for device in ("cpu", "cuda", "mps"):
        for name in ("fp32", "bf16", "fp16"):
            assert P.resolve_precision(name, device) == name


@pytest.fixture
def fake_gpu(monkeypatch):
    """Return ``fake(major, minor)``: CUDA "available" with that compute capability."""

    def fake(major: int, minor: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))
        # what auto must NOT ask: it counts emulated bf16 and says True on a T4
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)

    return fake


@pytest.mark.parametrize(
    "capability, expected",
    [
        ((7, 5), "fp16"),  # Colab's T4 (Turing): float16 tensor cores, no bfloat16 ones
        ((7, 0), "fp16"),  # V100 (Volta)
        ((8, 0), "bf16"),  # A100 (Ampere)
        ((8, 6), "bf16"),
        ((9, 0), "bf16"),  # H100 (Hopper)
        ((6, 1), "fp32"),  # Pascal: no tensor cores
    ],
)
def test_auto_on_a_cuda_gpu_follows_its_compute_capability(fake_gpu, capability, expected):
    fake_gpu(*capability)
    assert P.resolve_precision("auto", "cuda") == expected
    assert P.resolve_precision("auto", "cuda:0") == expected
    assert not P.uses_channels_last("auto", "cuda")


def test_auto_on_cuda_without_a_gpu_is_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert P.resolve_precision("auto", "cuda") == "fp32"


def test_a_t4_trains_with_a_gradient_scaler_and_an_ampere_gpu_without_one(fake_gpu, monkeypatch):
    made = []
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device: made.append(device) or "scaler")
    fake_gpu(7, 5)
    assert P.grad_scaler("auto", "cuda") == "scaler" and made == ["cuda"]
    fake_gpu(8, 0)
    assert P.grad_scaler("auto", "cuda") is None
    assert P.grad_scaler("fp32", "cpu") is None and P.grad_scaler("bf16", "cpu") is None


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
    with pytest.raises(ValueError, match="'fp8'.*auto, fp32, bf16, fp16"):
        P.resolve_precision("fp8", "cpu")
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        get_config("mnist", "smoke", precision="half")


def test_cpu_has_native_bf16_answers_a_bool():
    assert isinstance(P.cpu_has_native_bf16(), bool)


def test_autocast_runs_convolutions_in_16_bits_only_when_asked():
    conv = torch.nn.Conv2d(1, 4, 3, padding=1)
    x = torch.randn(2, 1, 8, 8)
    with P.autocast("bf16", "cpu") as name:
        assert name == "bf16" and conv(x).dtype == torch.bfloat16
    with P.autocast("fp16", "cpu") as name:
        assert name == "fp16" and conv(x).dtype == torch.float16
    with P.autocast("fp32", "cpu") as name:
        assert name == "fp32" and conv(x).dtype == torch.float32


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_the_loss_is_float32_under_16_bit_autocast(precision):
    torch.manual_seed(0)
    model = UNet(UNetConfig(**TINY_UNET))
    with P.autocast(precision, "cpu"):
        loss = noise_prediction_loss(
            model, torch.rand(3, 1, 28, 28) * 2 - 1, NoiseSchedule.linear(50)
        )
    assert loss.dtype == torch.float32


def test_sampling_in_fp16_rounds_only_the_network_and_needs_no_scaler():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 4)
    seen = []
    fp16_net = at_precision(lambda x, t: seen.append(net(x).dtype) or net(x), "fp16", "cpu")
    x = torch.randn(3, 4)
    out = fp16_net(x, torch.zeros(3, dtype=torch.long))
    assert seen == [torch.float16] and out.dtype == torch.float32
    torch.testing.assert_close(out, net(x), atol=5e-3, rtol=5e-3)  # float16: 11 significant bits


# ---------------------------------------------------------------------------- fp16 training
@pytest.fixture
def toy_fp16():
    """A small MLP on two moons, configured for fp16 (fast on a CPU, unlike fp16 convolutions)."""
    config = get_config(
        "toy-moons",
        "smoke",
        num_train_steps=20,
        batch_size=64,
        precision="fp16",
        log_every=5,
        model=MLPConfig(hidden_dim=32, num_layers=2),
    )
    return config, make_toy_data("moons", 512), NoiseSchedule.linear(100)


def test_fp16_training_scales_the_loss_keeps_float32_weights_and_learns(toy_fp16):
    config, data, schedule = toy_fp16
    torch.manual_seed(0)
    model = MLPDenoiser(config.model)
    initial = [p.detach().clone() for p in model.parameters()]
    state = train_denoiser(model, data, schedule, config, device="cpu", progress=False)
    assert isinstance(state.scaler, torch.amp.GradScaler), "fp16 trains with a loss scaler"
    assert state.scaler.get_scale() == 2.0**16, "no overflow here: the first scale holds"
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())
    assert all(not torch.equal(a, p) for a, p in zip(initial, model.parameters()))
    assert len(state.losses) == 4 and state.losses[-1][1] < state.losses[0][1]


def test_an_fp16_step_that_overflows_is_skipped_and_leaves_the_ema_alone(toy_fp16):
    config, data, schedule = toy_fp16
    config = config.__class__(**{**config.__dict__, "num_train_steps": 1, "log_every": 1})
    torch.manual_seed(0)
    model = MLPDenoiser(config.model)
    state = TrainState.create(model, config)
    state.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**60)  # float16 gradients overflow
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    state = train_denoiser(model, data, schedule, config, state=state, device="cpu", progress=False)
    assert state.step == 1 and state.scaler.get_scale() == 2.0**59, "skipped: the scale halves"
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(weights[k], v) for k, v in state.ema.model.state_dict().items())
    assert state.ema.num_updates == 1, "the decay's warm-up follows the step count"
    assert torch.isfinite(torch.tensor(state.losses[0][1])), "the loss itself was finite"


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
