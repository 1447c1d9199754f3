"""fit: the one loop of every network that is not a denoiser."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ddpm_tutorial.training import NonFiniteLossError, fit


def _regression(seed: int = 0) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    torch.manual_seed(seed)
    return nn.Linear(3, 1), x, y


def test_fit_lowers_the_loss_and_logs_its_mean_every_n_steps():
    model, x, y = _regression()
    g = torch.Generator().manual_seed(0)

    def step_loss(step):
        idx = torch.randint(0, len(x), (32,), generator=g)
        return (model(x[idx]) - y[idx]).pow(2).mean()

    log = fit(model, step_loss, steps=200, lr=0.05, log_every=50)
    assert [row[0] for row in log] == [50, 100, 150, 200]
    assert log[-1][1] < 0.1 * log[0][1]
    assert not model.training


def test_fit_logs_every_named_value_and_calls_after_step():
    model, x, y = _regression()
    seen = []

    def step_loss(step):
        loss = (model(x) - y).pow(2).mean()
        return loss, {"mse": loss, "step": float(step)}

    log = fit(model, step_loss, steps=4, lr=0.01, log_every=2, after_step=seen.append)
    assert seen == [1, 2, 3, 4]
    assert [row[2] for row in log] == [1.5, 3.5]  # the mean of the steps 1-2 and 3-4


def test_fit_trains_only_the_parameters_it_is_given():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    frozen = model[0].weight.detach().clone()
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    fit(
        model, lambda s: (model(x) - y).pow(2).mean(), steps=5, lr=0.1, params=model[1].parameters()
    )
    assert torch.equal(model[0].weight, frozen)


def test_a_non_finite_loss_is_reported_with_the_step_it_first_appeared():
    model, x, y = _regression()

    def step_loss(step):
        loss = (model(x) - y).pow(2).mean()
        return loss * float("nan") if step >= 3 else loss

    with pytest.raises(NonFiniteLossError, match=r"the loss became nan at step 3"):
        fit(model, step_loss, steps=10, lr=0.01, log_every=5)


def test_fit_is_the_same_run_for_the_same_seed():
    runs = []
    for _ in range(2):
        model, x, y = _regression(seed=1)
        g = torch.Generator().manual_seed(1)

        def step_loss(step, model=model, g=g, x=x, y=y):
            idx = torch.randint(0, len(x), (16,), generator=g)
            return (model(x[idx]) - y[idx]).pow(2).mean()

        runs.append((fit(model, step_loss, steps=20, lr=0.05), model.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
