"""The DDIM checkers accept the reference solutions and reject plausible wrong ones."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checks.ddim import (
    check_ddim_sampler,
    check_ddim_sigma,
    check_ddim_step,
    check_ddim_timesteps,
)
from ddpm_tutorial.parameterizations import x0_from_noise
from ddpm_tutorial.reverse_process import ddim_step, ddim_timesteps


# ---------------------------------------------------------------------------- sigma
def _sigma(ab_t, ab_prev, eta):
    return eta * torch.sqrt((1 - ab_prev) / (1 - ab_t)) * torch.sqrt(1 - ab_t / ab_prev)


def test_sigma_checker_accepts_eq_16(capsys):
    check_ddim_sigma(_sigma)
    assert "check_ddim_sigma passed" in capsys.readouterr().out


def test_sigma_checker_names_eta_squared():
    with pytest.raises(AssertionError, match="eta\\^2 where eta belongs"):
        check_ddim_sigma(lambda a, p, eta: eta * _sigma(a, p, eta))


def test_sigma_checker_names_a_missing_square_root():
    with pytest.raises(AssertionError, match="sigma\\^2, the variance"):
        check_ddim_sigma(lambda a, p, eta: _sigma(a, p, eta) ** 2)


def test_sigma_checker_explains_the_nan_of_a_reversed_ratio():
    def wrong(ab_t, ab_prev, eta):
        return eta * torch.sqrt((1 - ab_prev) / (1 - ab_t)) * torch.sqrt(1 - ab_prev / ab_t)

    with pytest.raises(AssertionError, match="NaN"):
        check_ddim_sigma(wrong)


# ---------------------------------------------------------------------------- one step
def _step(
    x_t,
    step,
    prev_step,
    eps_pred,
    schedule,
    eta=0.0,
    noise=None,
    *,
    ab_x0="prev",
    subtract_sigma=True,
    wrap=False,
):
    t = torch.full((x_t.shape[0],), step)
    ab_t = schedule.alpha_bars[step]
    if prev_step >= 0 or wrap:
        ab_prev = schedule.alpha_bars[prev_step]
    else:
        ab_prev = torch.tensor(1.0, dtype=torch.float64)
    x0_pred = x0_from_noise(x_t, t, eps_pred, schedule)
    sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).sqrt()
    scale = ab_prev.sqrt() if ab_x0 == "prev" else ab_t.sqrt()
    direction_var = 1 - ab_prev - (sigma**2 if subtract_sigma else 0)
    x_prev = scale * x0_pred + direction_var.sqrt() * eps_pred
    if eta > 0 and prev_step >= 0:
        x_prev = x_prev + sigma * noise
    return x_prev


def test_step_checker_accepts_the_package_function_and_eq_12_written_out(capsys):
    check_ddim_step(ddim_step)
    check_ddim_step(_step)
    assert capsys.readouterr().out.count("check_ddim_step passed") == 2


def test_step_checker_names_alpha_bar_t_in_front_of_the_predicted_x0():
    with pytest.raises(
        AssertionError, match="sqrt\\(alpha_bar_t\\); it needs sqrt\\(alpha_bar_prev\\)"
    ):
        check_ddim_step(lambda *a, **k: _step(*a, **k, ab_x0="t"))


def test_step_checker_names_a_direction_that_ignores_sigma():
    with pytest.raises(AssertionError, match="without subtracting sigma\\^2"):
        check_ddim_step(lambda *a, **k: _step(*a, **k, subtract_sigma=False))


def test_step_checker_names_the_wrap_around_of_prev_step_minus_one():
    with pytest.raises(AssertionError, match="prev_step = -1.*wraps around"):
        check_ddim_step(lambda *a, **k: _step(*a, **k, wrap=True))


# ---------------------------------------------------------------------------- step sequence
def test_timesteps_checker_accepts_the_package_function(capsys):
    check_ddim_timesteps(ddim_timesteps)
    assert "check_ddim_timesteps passed" in capsys.readouterr().out


def test_timesteps_checker_accepts_linspace_rounded_as_a_tensor():
    check_ddim_timesteps(lambda T, K: torch.linspace(0, T - 1, K).round().long().flip(0))


def test_timesteps_checker_rejects_a_range_that_never_reaches_the_top():
    with pytest.raises(AssertionError, match="must start at T - 1 = 999.*never reaches the top"):
        check_ddim_timesteps(lambda T, K: list(range(0, T, T // K))[::-1])


def test_timesteps_checker_rejects_an_increasing_list():
    with pytest.raises(AssertionError, match="strictly decreasing"):
        check_ddim_timesteps(lambda T, K: ddim_timesteps(T, K)[::-1])


# ---------------------------------------------------------------------------- a loop
def _sampler(model, schedule, x_T, num_steps, *, subtract=False):
    steps = ddim_timesteps(schedule.num_steps, num_steps)
    x = x_T
    for i, step in enumerate(steps):
        if subtract:
            prev = max(step - schedule.num_steps // num_steps, -1)
        else:
            prev = steps[i + 1] if i + 1 < len(steps) else -1
        eps = model(x, torch.full((x.shape[0],), step))
        x, _ = ddim_step(x, step, prev, eps, schedule)
    return x


def test_sampler_checker_accepts_a_loop_that_looks_up_the_previous_step(capsys):
    check_ddim_sampler(_sampler)
    assert "check_ddim_sampler passed" in capsys.readouterr().out


def test_sampler_checker_rejects_a_previous_step_computed_by_subtraction():
    with pytest.raises(AssertionError, match="step - T // K.*Take prev_step from the list"):
        check_ddim_sampler(lambda *a: _sampler(*a, subtract=True))


def test_sampler_checker_rejects_a_loop_over_the_wrong_steps():
    def wrong(model, schedule, x_T, num_steps):
        stride = schedule.num_steps // num_steps
        x = x_T
        for step in range(schedule.num_steps - 1, -1, -stride):
            eps = model(x, torch.full((x.shape[0],), step))
            x, _ = ddim_step(x, step, max(step - stride, -1), eps, schedule)
        return x

    with pytest.raises(AssertionError, match="must be called at steps"):
        check_ddim_sampler(wrong)
