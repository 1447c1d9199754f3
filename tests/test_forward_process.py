"""The forward process q: one step, closed form, posterior; diffusers as a reference."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDPMScheduler

from ddpm_tutorial.forward_process import add_noise, add_noise_step, posterior_mean_variance
from ddpm_tutorial.schedules import NoiseSchedule


def _steps(k: int, n: int) -> torch.Tensor:
    return torch.full((n,), k, dtype=torch.long)


def test_closed_form_matches_iterated_steps_in_distribution(linear_schedule):
    n, k = 20_000, 300
    x0 = torch.tensor([0.8, -0.4]).expand(n, 2)  # one fixed clean point, n copies
    g = torch.Generator().manual_seed(0)
    x_iter = x0.clone()
    for step in range(k + 1):  # steps 0, 1, ..., k: x_{k} from x0
        x_iter = add_noise_step(
            x_iter, _steps(step, n), torch.randn(n, 2, generator=g), linear_schedule
        )
    x_closed = add_noise(x0, _steps(k, n), torch.randn(n, 2, generator=g), linear_schedule)

    ab = linear_schedule.alpha_bars[k].item()
    mean, std = math.sqrt(ab) * x0[0], math.sqrt(1 - ab)
    for name, x in (("iterated", x_iter), ("closed form", x_closed)):
        # five standard errors: sd / sqrt(n) for the mean, sd / sqrt(2n) for the sd
        torch.testing.assert_close(x.mean(0), mean, rtol=0, atol=5 * std / math.sqrt(n), msg=name)
        torch.testing.assert_close(
            x.std(0), torch.full((2,), std), rtol=0, atol=5 * std / math.sqrt(2 * n), msg=name
        )


def test_unit_variance_data_keeps_unit_variance_at_every_step(schedule):
    n = 4000
    g = torch.Generator().manual_seed(0)
    T = schedule.num_steps
    # closed form: example i is at step i, so each row's variance over n values checks one step
    x0 = torch.randn(T, n, generator=g, dtype=torch.float64)
    x_t = add_noise(
        x0, torch.arange(T), torch.randn(T, n, generator=g, dtype=torch.float64), schedule
    )
    tol = 5.5 * math.sqrt(2 / n)  # 5.5 standard errors of a variance, over 1000 steps
    assert (x_t.var(dim=1) - 1).abs().max().item() < tol
    # one step at a time: the chain stays at unit variance
    x = torch.randn(1, n, generator=g, dtype=torch.float64)
    worst = 0.0
    for step in range(T):
        x = add_noise_step(
            x, _steps(step, 1), torch.randn(1, n, generator=g, dtype=torch.float64), schedule
        )
        worst = max(worst, abs(x.var().item() - 1))
    assert worst < tol


def test_add_noise_applies_each_examples_own_step(linear_schedule):
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(3, 1, 4, 4, generator=g) * 2 - 1
    noise = torch.randn(3, 1, 4, 4, generator=g)
    t = torch.tensor([0, 420, 999])
    x_t = add_noise(x0, t, noise, linear_schedule)
    assert x_t.shape == x0.shape and x_t.dtype == torch.float32
    for i, step in enumerate(t.tolist()):
        ab = linear_schedule.alpha_bars[step].item()
        torch.testing.assert_close(x_t[i], math.sqrt(ab) * x0[i] + math.sqrt(1 - ab) * noise[i])


def test_add_noise_at_the_first_step_barely_changes_the_image_and_at_the_last_is_noise(
    linear_schedule,
):
    x0 = torch.ones(2, 1, 8, 8)
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    early = add_noise(x0, torch.tensor([0, 0]), noise, linear_schedule)
    late = add_noise(x0, torch.tensor([999, 999]), noise, linear_schedule)
    assert (early - x0).abs().max().item() < 0.05
    assert (late - noise).abs().max().item() < 0.01


def test_add_noise_step_from_x0_equals_closed_form_at_step_zero(linear_schedule):
    g = torch.Generator().manual_seed(2)
    x0, noise, t = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), _steps(0, 4)
    torch.testing.assert_close(
        add_noise_step(x0, t, noise, linear_schedule), add_noise(x0, t, noise, linear_schedule)
    )


@pytest.mark.parametrize("step", [1, 10, 300, 999])
def test_posterior_mean_and_variance_equal_ho_et_al_eq_7(schedule, step):
    s = schedule
    x0 = torch.tensor([[0.7, -0.2]], dtype=torch.float64)
    x_t = torch.tensor([[-0.1, 1.3]], dtype=torch.float64)
    mean, var = posterior_mean_variance(x0, x_t, _steps(step, 1), s)
    beta, alpha, ab, ab_prev = (
        v[step].item() for v in (s.betas, s.alphas, s.alpha_bars, s.alpha_bars_prev)
    )
    expected_mean = (math.sqrt(ab_prev) * beta / (1 - ab)) * x0 + (
        math.sqrt(alpha) * (1 - ab_prev) / (1 - ab)
    ) * x_t
    torch.testing.assert_close(mean, expected_mean)
    assert var.shape == (1, 1)
    assert var.item() == pytest.approx((1 - ab_prev) / (1 - ab) * beta, rel=1e-12)


@pytest.mark.parametrize("step", [1, 50, 500, 998])
def test_posterior_equals_bayes_rule_computed_numerically_on_a_grid(linear_schedule, step):
    """q(x_{t-1} | x_t, x0) is proportional to q(x_t | x_{t-1}) q(x_{t-1} | x0); integrate on a grid."""
    s = linear_schedule
    x0_val, x_t_val = 0.6, -0.3
    alpha, beta, ab_prev = (
        s.alphas[step].item(),
        s.betas[step].item(),
        s.alpha_bars_prev[step].item(),
    )
    prior_mean, prior_var = math.sqrt(ab_prev) * x0_val, 1 - ab_prev
    # the Gaussian product formula: precisions add, means weighted by precision
    product_var = 1 / (1 / prior_var + alpha / beta)
    product_mean = product_var * (prior_mean / prior_var + math.sqrt(alpha) * x_t_val / beta)
    # Bayes numerically: unnormalised log density on a grid around the product's mean
    sd = math.sqrt(product_var)
    grid = torch.linspace(
        product_mean - 12 * sd, product_mean + 12 * sd, 200_001, dtype=torch.float64
    )
    log_p = -((x_t_val - math.sqrt(alpha) * grid) ** 2) / (2 * beta) - (grid - prior_mean) ** 2 / (
        2 * prior_var
    )
    w = torch.exp(log_p - log_p.max())
    w = w / w.sum()
    bayes_mean = (w * grid).sum().item()
    bayes_var = (w * (grid - bayes_mean) ** 2).sum().item()

    mean, var = posterior_mean_variance(
        torch.tensor([[x0_val]], dtype=torch.float64),
        torch.tensor([[x_t_val]], dtype=torch.float64),
        _steps(step, 1),
        s,
    )
    assert mean.item() == pytest.approx(product_mean, rel=1e-9, abs=1e-12)
    assert var.item() == pytest.approx(product_var, rel=1e-9)
    assert mean.item() == pytest.approx(bayes_mean, rel=1e-6, abs=1e-9)
    assert var.item() == pytest.approx(bayes_var, rel=1e-4)


def test_posterior_at_step_zero_is_the_clean_image_with_zero_variance(linear_schedule):
    x0, x_t = torch.tensor([[0.25, -0.5]]), torch.tensor([[0.3, -0.45]])
    mean, var = posterior_mean_variance(x0, x_t, _steps(0, 1), linear_schedule)
    torch.testing.assert_close(mean, x0)
    assert var.item() == 0.0


def test_posterior_mean_of_the_true_x0_is_unbiased_for_x_prev(linear_schedule):
    """E[x_{t-1} | x_t, x0] averaged over x_t equals E[x_{t-1} | x0] = sqrt(ab_prev) x0."""
    n, step = 50_000, 200
    g = torch.Generator().manual_seed(3)
    x0 = torch.full((n, 1), 0.9, dtype=torch.float64)
    x_t = add_noise(
        x0, _steps(step, n), torch.randn(n, 1, generator=g, dtype=torch.float64), linear_schedule
    )
    mean, _ = posterior_mean_variance(x0, x_t, _steps(step, n), linear_schedule)
    expected = math.sqrt(linear_schedule.alpha_bars_prev[step].item()) * 0.9
    assert mean.mean().item() == pytest.approx(expected, abs=5 / math.sqrt(n))


# ---------------------------------------------------------------------------- reference: diffusers
def test_add_noise_matches_diffusers(linear_schedule):
    ref = DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        clip_sample=False,
    )
    g = torch.Generator().manual_seed(4)
    x0 = torch.rand(5, 1, 6, 6, generator=g) * 2 - 1
    noise = torch.randn(5, 1, 6, 6, generator=g)
    t = torch.tensor([0, 1, 250, 750, 999])
    torch.testing.assert_close(
        add_noise(x0, t, noise, linear_schedule), ref.add_noise(x0, noise, t), rtol=1e-3, atol=1e-5
    )


def test_add_noise_matches_diffusers_for_the_cosine_schedule():
    schedule = NoiseSchedule.cosine(1000)
    ref = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False
    )
    g = torch.Generator().manual_seed(5)
    x0, noise = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    t = torch.tensor([0, 333, 666, 998])
    torch.testing.assert_close(
        add_noise(x0, t, noise, schedule), ref.add_noise(x0, noise, t), rtol=1e-3, atol=1e-5
    )
