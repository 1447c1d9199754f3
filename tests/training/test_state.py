"""Resumable state: a run stopped and resumed from disk ends where an uninterrupted one does,
float16 loss scaler included."""

from __future__ import annotations

import dataclasses

import torch

from ddpm_tutorial.data import make_toy_data
from ddpm_tutorial.models import MLPConfig, MLPDenoiser
from ddpm_tutorial.runs import get_config
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.training import (
    TrainState,
    load_training_state,
    save_training_state,
    train_denoiser,
)


def test_an_fp16_run_resumed_from_disk_matches_the_uninterrupted_run_scaler_included(tmp_path):
    config = get_config(
        "toy-moons",
        "smoke",
        num_train_steps=8,
        batch_size=32,
        precision="fp16",
        log_every=2,
        model=MLPConfig(hidden_dim=16, num_layers=2),
    )
    data, schedule = make_toy_data("moons", 256), NoiseSchedule.linear(50)

    def fresh() -> TrainState:
        torch.manual_seed(config.seed)
        state = TrainState.create(MLPDenoiser(config.model), config)
        # a scale that grows every 3 steps, so the checkpoint holds it mid-count
        state.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=3)
        return state

    whole = fresh()
    whole = train_denoiser(
        whole.model, data, schedule, config, state=whole, device="cpu", progress=False
    )

    first = dataclasses.replace(config, num_train_steps=5)
    part = fresh()
    part = train_denoiser(
        part.model, data, schedule, first, state=part, device="cpu", progress=False
    )
    save_training_state(part, tmp_path)
    assert part.scaler is not None and part.scaler.state_dict()["_growth_tracker"] == 2
    resumed = load_training_state(tmp_path, MLPDenoiser(config.model), config, torch.device("cpu"))
    assert resumed.scaler is not None
    assert resumed.scaler.state_dict() == part.scaler.state_dict()
    resumed = train_denoiser(
        resumed.model, data, schedule, config, state=resumed, device="cpu", progress=False
    )

    assert whole.scaler.state_dict() == resumed.scaler.state_dict()
    assert whole.scaler.get_scale() == 2.0**12, "the scale grew twice in 8 steps"
    for name, a, b in (
        ("weights", whole.model, resumed.model),
        ("EMA", whole.ema.model, resumed.ema.model),
    ):
        different = [k for k, v in a.state_dict().items() if not torch.equal(v, b.state_dict()[k])]
        assert not different, f"{name} differ after resuming: {different}"
    assert whole.losses[-1] == resumed.losses[-1], "the last logged loss, too"
