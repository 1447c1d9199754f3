"""The denoiser training loop: Algorithm 1, warm-up, EMA, a loud stop on NaN, the schedules."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.data import make_toy_data
from ddpm_tutorial.models import MLPConfig, MLPDenoiser
from ddpm_tutorial.runs import get_config
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.training import (
    NonFiniteLossError,
    TrainState,
    evaluate_loss,
    train_denoiser,
    warmup_lr,
)


@pytest.fixture
def toy():
    config = get_config(
        "toy-moons",
        "smoke",
        num_train_steps=100,
        batch_size=128,
        log_every=10,
        model=MLPConfig(hidden_dim=64, num_layers=2),
    )
    schedule = NoiseSchedule.from_name(config.schedule, config.num_diffusion_steps)
    torch.manual_seed(0)
    return MLPDenoiser(config.model), make_toy_data("moons", 2000), schedule, config


def test_a_short_training_run_lowers_the_loss(toy):
    model, data, schedule, config = toy
    before = evaluate_loss(model, data, schedule, num_batches=4)
    state = train_denoiser(model, data, schedule, config, device="cpu", progress=False)
    after = evaluate_loss(state.ema.model, data, schedule, num_batches=4)
    assert before == pytest.approx(1.0, abs=0.1), "an untrained MLP predicts about zero noise"
    assert after < 0.5 * before, f"loss {before:.3f} -> {after:.3f}"
    assert state.step == 100 and state.ema.num_updates == 100
    assert [s for s, _ in state.losses] == list(range(10, 101, 10))
    assert not model.training, "the model is left in eval mode"


def test_the_held_out_loss_is_deterministic(toy):
    model, data, schedule, _ = toy
    assert evaluate_loss(model, data, schedule, num_batches=2) == evaluate_loss(
        model, data, schedule, num_batches=2
    )


def test_checkpoint_callback_runs_every_checkpoint_every_steps(toy):
    model, data, schedule, config = toy
    config = config.__class__(**{**config.__dict__, "num_train_steps": 7, "checkpoint_every": 3})
    seen = []
    train_denoiser(
        model,
        data,
        schedule,
        config,
        device="cpu",
        progress=False,
        on_checkpoint=lambda s: seen.append(s.step),
    )
    assert seen == [3, 6]


def test_learning_rate_warms_up_linearly_then_stays(toy):
    config = toy[3]  # warm-up 50 steps to 1e-3
    lr, warmup = config.learning_rate, config.warmup_steps
    assert warmup_lr(0, lr, warmup) == pytest.approx(1e-3 / 50)
    assert warmup_lr(24, lr, warmup) == pytest.approx(1e-3 / 2)
    assert warmup_lr(49, lr, warmup) == warmup_lr(5000, lr, warmup) == pytest.approx(1e-3)


def test_a_non_finite_loss_stops_training_with_a_readable_error(toy):
    model, data, schedule, config = toy
    data = data.clone()
    data[:] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"the loss became nan at step 0"):
        train_denoiser(model, data, schedule, config, device="cpu", progress=False)


def test_class_conditional_training_passes_labels_with_dropout(tiny_schedule):
    config = get_config("mnist-class", "smoke", num_train_steps=2, batch_size=4, cond_drop_prob=0.5)
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x_t, t, cond=None, cond_mask=None):
            seen.append((cond, cond_mask))
            return x_t * self.w

    labels = torch.arange(8) % 10
    train_denoiser(
        Recorder(),
        torch.zeros(8, 1, 4, 4),
        tiny_schedule,
        config,
        cond=labels,
        device="cpu",
        progress=False,
    )
    assert len(seen) == 2
    for cond, keep in seen:
        assert cond.dtype == torch.long and cond.shape == (4,) and keep.dtype == torch.bool


def test_fresh_train_state_seeds_its_generator_from_the_config(toy):
    model, _, _, config = toy
    a, b = TrainState.create(model, config), TrainState.create(model, config)
    assert torch.equal(a.generator.get_state(), b.generator.get_state())


@pytest.mark.parametrize("steps", [1, 2, 3, 20, 40, 100])
def test_one_cycle_runs_for_any_number_of_steps(steps):
    from ddpm_tutorial.training import one_cycle

    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = one_cycle(opt, 1e-3, steps)
    lrs = []
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert max(lrs) <= 1e-3 + 1e-12
    if steps >= 40:  # the 5% warm-up of the shipped runs is unchanged: the peak comes at 5%
        assert lrs.index(max(lrs)) + 1 == round(0.05 * steps) - 1
