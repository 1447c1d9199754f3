"""The simple loss of Ho et al. (2020): its ground truth is the noise we added."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.losses import noise_prediction_loss, sample_steps
from ddpm_tutorial.parameterizations import noise_from_x0


def test_sampled_steps_are_int64_and_cover_zero_to_t_minus_one_uniformly(tiny_schedule):
    t = sample_steps(20_000, tiny_schedule, generator=torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and t.shape == (20_000,)
    assert t.min().item() == 0 and t.max().item() == tiny_schedule.num_steps - 1
    counts = torch.bincount(t, minlength=20).double()
    expected = 20_000 / 20
    assert (counts - expected).abs().max().item() < 5 * math.sqrt(expected)


def test_a_model_that_knows_x0_recovers_the_noise_exactly(linear_schedule):
    """The regression target is the noise that made x_t: an oracle knowing x0 has zero loss."""
    x0 = torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def oracle(x_t, t):
        return noise_from_x0(x_t, t, x0, linear_schedule)

    loss = noise_prediction_loss(
        oracle, x0, linear_schedule, generator=torch.Generator().manual_seed(2)
    )
    assert loss.ndim == 0 and loss.item() < 1e-6


def test_predicting_zero_noise_costs_the_noise_variance(linear_schedule):
    x0 = torch.zeros(256, 1, 8, 8)
    loss = noise_prediction_loss(
        lambda x_t, t: torch.zeros_like(x_t),
        x0,
        linear_schedule,
        generator=torch.Generator().manual_seed(3),
    )
    assert loss.item() == pytest.approx(1.0, abs=0.02)


def test_the_same_generator_seed_gives_the_same_loss(linear_schedule):
    x0 = torch.rand(8, 2)
    model = lambda x_t, t: x_t * 0.5  # noqa: E731
    losses = [
        noise_prediction_loss(
            model, x0, linear_schedule, generator=torch.Generator().manual_seed(7)
        )
        for _ in range(2)
    ]
    assert losses[0].item() == losses[1].item()


@pytest.mark.parametrize("drop_prob, kept", [(0.0, 64), (1.0, 0)])
def test_condition_dropout_reaches_the_model_as_cond_mask(tiny_schedule, drop_prob, kept):
    seen = {}

    def model(x_t, t, cond, cond_mask):
        seen.update(cond=cond, cond_mask=cond_mask, t=t)
        return torch.zeros_like(x_t)

    labels = torch.arange(64) % 10
    noise_prediction_loss(
        model,
        torch.zeros(64, 2),
        tiny_schedule,
        cond=labels,
        cond_drop_prob=drop_prob,
        generator=torch.Generator().manual_seed(0),
    )
    assert seen["cond"] is labels
    assert seen["cond_mask"].dtype == torch.bool and int(seen["cond_mask"].sum()) == kept
    assert seen["t"].dtype == torch.long and seen["t"].shape == (64,)


def test_half_the_conditions_are_dropped_at_probability_one_half(tiny_schedule):
    masks = []
    noise_prediction_loss(
        lambda x_t, t, c, cond_mask: masks.append(cond_mask) or torch.zeros_like(x_t),
        torch.zeros(4000, 2),
        tiny_schedule,
        cond=torch.zeros(4000, dtype=torch.long),
        cond_drop_prob=0.5,
        generator=torch.Generator().manual_seed(0),
    )
    assert masks[0].float().mean().item() == pytest.approx(0.5, abs=5 * 0.5 / math.sqrt(4000))


def test_the_loss_is_differentiable_in_the_model_parameters(tiny_schedule):
    layer = torch.nn.Linear(2, 2)
    loss = noise_prediction_loss(lambda x_t, t: layer(x_t), torch.randn(32, 2), tiny_schedule)
    loss.backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
