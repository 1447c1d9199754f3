"""The DDPM-math checkers accept the reference solutions and reject plausible wrong ones."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checks.elbo import (
    check_gaussian_kl,
    check_loss_weight,
    check_posterior_mean_variance,
)
from ddpm_tutorial.forward_process import posterior_mean_variance
from ddpm_tutorial.schedules import gather_at


# ---------------------------------------------------------------------------- posterior
def _posterior(x0, x_t, t, schedule, *, ab_prev_table="prev", sqrt_ab_prev=True, var="posterior"):
    """eq. 7 written out, with switches for the usual slips."""
    beta = gather_at(schedule.betas, t, like=x_t)
    alpha = gather_at(schedule.alphas, t, like=x_t)
    ab = gather_at(schedule.alpha_bars, t, like=x_t)
    if ab_prev_table == "prev":
        ab_prev = gather_at(schedule.alpha_bars_prev, t, like=x_t)
    elif ab_prev_table == "t":
        ab_prev = ab
    else:  # alpha_bars[t - 1], which wraps around at t = 0
        ab_prev = schedule.alpha_bars[t - 1].to(x_t.dtype).reshape(-1, *[1] * (x_t.ndim - 1))
    coef_x0 = beta * (ab_prev.sqrt() if sqrt_ab_prev else ab_prev) / (1 - ab)
    mean = coef_x0 * x0 + (1 - ab_prev) * alpha.sqrt() / (1 - ab) * x_t
    variance = (1 - ab_prev) / (1 - ab) * beta if var == "posterior" else beta
    return mean, variance


def test_posterior_checker_accepts_the_package_function(capsys):
    check_posterior_mean_variance(posterior_mean_variance)
    assert "check_posterior_mean_variance passed" in capsys.readouterr().out


def test_posterior_checker_accepts_eq_7_written_out_with_a_per_example_variance():
    def mine(x0, x_t, t, schedule):
        mean, variance = _posterior(x0, x_t, t, schedule)
        return mean, variance.reshape(-1)  # shape (B,)

    check_posterior_mean_variance(mine)


def test_posterior_checker_names_alpha_bar_t_used_for_alpha_bar_t_minus_1():
    with pytest.raises(AssertionError, match="alpha_bar_t where alpha_bar_.t-1. belongs"):
        check_posterior_mean_variance(lambda *a: _posterior(*a, ab_prev_table="t"))


def test_posterior_checker_names_a_missing_square_root():
    with pytest.raises(AssertionError, match="without the square root on alpha_bar"):
        check_posterior_mean_variance(lambda *a: _posterior(*a, sqrt_ab_prev=False))


def test_posterior_checker_names_the_wrap_around_at_t_0():
    with pytest.raises(AssertionError, match="wrong at t = 0.*wraps around"):
        check_posterior_mean_variance(lambda *a: _posterior(*a, ab_prev_table="wrap"))


def test_posterior_checker_names_beta_used_as_the_posterior_variance():
    with pytest.raises(AssertionError, match="It equals beta_t, the variance of the forward step"):
        check_posterior_mean_variance(lambda *a: _posterior(*a, var="beta"))


# ---------------------------------------------------------------------------- Gaussian KL
def _kl(mean1, var1, mean2, var2):
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1)


def test_kl_checker_accepts_the_closed_form(capsys):
    check_gaussian_kl(_kl)
    assert "check_gaussian_kl passed" in capsys.readouterr().out


def test_kl_checker_names_the_reversed_direction():
    with pytest.raises(AssertionError, match="not symmetric"):
        check_gaussian_kl(lambda m1, v1, m2, v2: _kl(m2, v2, m1, v1))


def test_kl_checker_names_standard_deviations_taken_for_variances():
    with pytest.raises(AssertionError, match="standard deviations"):
        check_gaussian_kl(lambda m1, v1, m2, v2: _kl(m1, v1**2, m2, v2**2))


def test_kl_checker_names_a_missing_half():
    with pytest.raises(AssertionError, match="twice the KL"):
        check_gaussian_kl(lambda m1, v1, m2, v2: 2 * _kl(m1, v1, m2, v2))


def test_kl_checker_asks_for_the_kl_per_element_not_its_sum():
    with pytest.raises(AssertionError, match="sum over all elements"):
        check_gaussian_kl(lambda *a: _kl(*a).sum())


# ---------------------------------------------------------------------------- loss weight
def _weight(t, schedule, variance, *, alpha_power=1.0, two=2.0, ab_table="alpha_bars"):
    sigma2 = (schedule.posterior_variance if variance == "posterior" else schedule.betas)[t]
    ab = getattr(schedule, ab_table)[t]
    return schedule.betas[t] ** 2 / (two * sigma2 * schedule.alphas[t] ** alpha_power * (1 - ab))


def test_weight_checker_accepts_eq_12_for_both_variances(capsys):
    check_loss_weight(_weight)
    assert "check_loss_weight passed" in capsys.readouterr().out


def test_weight_checker_names_sqrt_alpha_in_place_of_alpha():
    with pytest.raises(AssertionError, match="sqrt\\(alpha_t\\) where alpha_t belongs"):
        check_loss_weight(lambda t, s, v: _weight(t, s, v, alpha_power=0.5))


def test_weight_checker_names_a_missing_factor_two():
    with pytest.raises(AssertionError, match="no factor 2"):
        check_loss_weight(lambda t, s, v: _weight(t, s, v, two=1.0))


def test_weight_checker_names_alpha_bar_prev_in_place_of_alpha_bar_t():
    with pytest.raises(AssertionError, match="1 - alpha_bar_.t-1. where 1 - alpha_bar_t belongs"):
        check_loss_weight(lambda t, s, v: _weight(t, s, v, ab_table="alpha_bars_prev"))


def test_weight_checker_names_an_ignored_variance_argument():
    with pytest.raises(AssertionError, match="weight for variance='posterior'"):
        check_loss_weight(lambda t, s, v: _weight(t, s, "posterior"))
