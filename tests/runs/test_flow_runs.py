"""Flow-matching runs: the config, the card, the loaded path, resuming and reflow's pairs."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from ddpm_tutorial.checkpoints import load_checkpoint
from ddpm_tutorial.flow_matching import FlowMatching, sample_flow
from ddpm_tutorial.models import build_model
from ddpm_tutorial.runs import get_config, run_training
from ddpm_tutorial.runs.config import TrainConfig, config_to_dict
from ddpm_tutorial.runs.run import path_of
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.training.loop import evaluate_loss, train_denoiser


def test_mnist_flow_is_mnist_with_the_flow_objective():
    flow, ddpm = get_config("mnist-flow", "cpu"), get_config("mnist", "cpu")
    assert flow.objective == "flow" and flow.time_sampling == "logit-normal"
    same = {k: v for k, v in flow.__dict__.items() if k not in ("name", "objective")}
    assert same == {k: v for k, v in ddpm.__dict__.items() if k not in ("name", "objective")}
    assert isinstance(path_of(flow), FlowMatching) and isinstance(path_of(ddpm), NoiseSchedule)


def test_config_refuses_an_unknown_objective_or_time_sampling_in_one_line():
    with pytest.raises(ValueError, match="unknown objective 'score'"):
        get_config("mnist", "smoke", objective="score")
    with pytest.raises(ValueError, match="unknown time sampling 'beta'"):
        get_config("mnist-flow", "smoke", time_sampling="beta")
    with pytest.raises(ValueError, match="parts of a cascade"):
        get_config("mnist-imagen-sr", "smoke", objective="flow")


def test_a_flow_run_writes_a_card_whose_checkpoint_loads_its_path_and_samples(
    tmp_path, quick_heldout_loss
):
    config = get_config("mnist-flow", "smoke", num_train_steps=4, checkpoint_every=2)
    card = run_training(config, tmp_path / "a", device="cpu", progress=False)
    assert card["schedule"]["kind"] == "flow-matching"
    assert card["sampling"] == {"sampler": "euler", "steps": 50, "guidance_scale": 1.0}
    ckpt = load_checkpoint(tmp_path / "a")
    assert ckpt.schedule == FlowMatching("logit-normal")
    x = sample_flow(ckpt.model, ckpt.schedule, (2, 1, 28, 28), num_steps=2)
    assert x.shape == (2, 1, 28, 28) and bool(torch.isfinite(x).all())

    # resuming ends exactly where the uninterrupted run did
    half = TrainConfig(**{**config.__dict__, "num_train_steps": 2})
    run_training(half, tmp_path / "b", device="cpu", progress=False)
    run_training(config, tmp_path / "b", resume=True, device="cpu", progress=False)
    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "b" / "model.json").read_text())["resumed_with"]


def _toy_flow_config(steps: int) -> TrainConfig:
    return get_config("toy-moons", "smoke", objective="flow", num_train_steps=steps, log_every=5)


def test_the_flow_loss_falls_on_the_toy_and_evaluate_loss_is_deterministic():
    torch.manual_seed(0)
    data = torch.randn(512, 2) * 0.3 + 1.0
    config = _toy_flow_config(150)
    path = FlowMatching("uniform")
    model = get_model_for(config)
    before = evaluate_loss(model, data, path, num_batches=4, batch_size=128)
    state = train_denoiser(model, data, path, config, device="cpu", progress=False)
    after = evaluate_loss(state.ema.model, data, path, num_batches=4, batch_size=128)
    assert after < 0.8 * before
    assert evaluate_loss(model, data, path, num_batches=2) == evaluate_loss(
        model, data, path, num_batches=2
    )


def get_model_for(config: TrainConfig) -> torch.nn.Module:
    return build_model(config.model_kind, config_to_dict(config)["model"])


def test_coupled_noise_trains_on_each_examples_own_noise():
    """Reflow's pairs: with coupled_noise the loop regresses onto noise[i] - x0[i] exactly."""
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x_t, s):
            seen.append((x_t.detach().clone(), s.detach().clone()))
            return self.w * x_t

    data, noise = torch.randn(8, 2), torch.randn(8, 2)
    config = _toy_flow_config(3)
    train_denoiser(
        Recorder(), data, FlowMatching(), config, device="cpu", progress=False, coupled_noise=noise
    )
    for x_t, s in seen:
        t = (s / 1000).view(-1, 1)
        # every x_t lies on the segment between some data row and ITS noise row
        fits = [
            torch.allclose(x_t[j], (1 - t[j]) * data[i] + t[j] * noise[i], atol=1e-5)
            for j in range(x_t.shape[0])
            for i in range(8)
        ]
        assert sum(fits) >= x_t.shape[0]


def test_coupled_noise_is_refused_for_ddpm_and_for_a_wrong_shape():
    data = torch.randn(8, 2)
    config = _toy_flow_config(1)
    with pytest.raises(ValueError, match="flow matching .reflow. only"):
        train_denoiser(
            get_model_for(config),
            data,
            NoiseSchedule.linear(10),
            config,
            progress=False,
            coupled_noise=data,
        )
    with pytest.raises(ValueError, match="coupled_noise must have the shape of data"):
        train_denoiser(
            get_model_for(config),
            data,
            FlowMatching(),
            config,
            progress=False,
            coupled_noise=torch.zeros(8, 3),
        )
