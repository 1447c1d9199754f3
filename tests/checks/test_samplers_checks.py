"""The samplers chapter's checkers accept the reference solutions and name plausible wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial import checks
from ddpm_tutorial.checks.samplers import (
    RecordingSlope,
    check_euler_step_in_sigma,
    check_heun_step,
    check_karras_sigmas,
    check_sigma_of_alpha_bar,
)
from ddpm_tutorial.ode_samplers import karras_sigmas
from ddpm_tutorial.reverse_process import ddim_step


def test_every_checker_of_the_chapter_is_importable_from_checks():
    for name in (
        "check_sigma_of_alpha_bar",
        "check_euler_step_in_sigma",
        "check_heun_step",
        "check_karras_sigmas",
    ):
        assert getattr(checks, name) is globals()[name]


# ---------------------------------------------------------------------------- sigma
def test_sigma_checker_accepts_the_square_root_of_noise_over_signal(capsys):
    check_sigma_of_alpha_bar(lambda ab: ((1 - ab) / ab).sqrt())
    check_sigma_of_alpha_bar(lambda ab: [math.sqrt((1 - a) / a) for a in ab.tolist()])
    assert capsys.readouterr().out.count("check_sigma_of_alpha_bar passed") == 2


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        (lambda ab: (1 - ab) / ab, "the variance of the noise in x_bar"),
        (lambda ab: (1 - ab).sqrt(), "the standard deviation of the noise in x_t"),
        (lambda ab: 1 - ab, "1 - alpha_bar, the variance of the noise in x_t"),
        (lambda ab: (ab / (1 - ab)).sqrt(), "upside down"),
    ],
)
def test_sigma_checker_names_the_usual_mistakes(wrong, named):
    with pytest.raises(AssertionError, match=f"^check_sigma_of_alpha_bar failed: .*{named}"):
        check_sigma_of_alpha_bar(wrong)


def test_sigma_checker_reports_a_wrong_shape():
    with pytest.raises(AssertionError, match=r"has shape \(2,\); expected \(7,\)"):
        check_sigma_of_alpha_bar(lambda ab: ab[:2])


# ---------------------------------------------------------------------------- Euler
def _euler(x_t, step, prev_step, eps_pred, schedule, *, into="x_bar", out="prev", noise="sigma"):
    ab = schedule.alpha_bars
    a_t = float(ab[step])
    a_p = float(ab[prev_step]) if prev_step >= 0 else 1.0

    def level(a):
        return {"sigma": math.sqrt((1 - a) / a), "var": (1 - a) / a, "std": math.sqrt(1 - a)}[noise]

    x_bar = x_t / math.sqrt(a_t) if into == "x_bar" else x_t
    x_next = x_bar + (level(a_p) - level(a_t)) * eps_pred
    scale = {"prev": math.sqrt(a_p), "t": math.sqrt(a_t), "none": 1.0}[out]
    return scale * x_next


def test_euler_checker_accepts_the_step_in_x_bar_and_ddim_itself(capsys):
    check_euler_step_in_sigma(_euler)
    check_euler_step_in_sigma(lambda *a: ddim_step(*a, eta=0.0))
    assert capsys.readouterr().out.count("check_euler_step_in_sigma passed") == 2


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (dict(into="x_t", out="none"), "takes the Euler step on x_t itself"),
        (dict(out="none"), "returns x_bar at prev_step"),
        (dict(out="t"), r"rescales the result by sqrt\(alpha_bar_t\)"),
        (dict(noise="var"), "the variance, as the noise level"),
        (dict(noise="std"), r"uses sqrt\(1 - alpha_bar\) as the noise level"),
    ],
)
def test_euler_checker_names_the_usual_mistakes(options, named):
    def wrong(*args):
        return _euler(*args, **options)

    with pytest.raises(AssertionError, match=f"^check_euler_step_in_sigma failed: .*{named}"):
        check_euler_step_in_sigma(wrong)


def test_euler_checker_names_a_step_in_the_wrong_direction():
    def backwards(x_t, step, prev_step, eps_pred, schedule):
        forward = _euler(x_t, step, prev_step, eps_pred, schedule)
        a_p = float(schedule.alpha_bars[prev_step]) if prev_step >= 0 else 1.0
        x_bar = x_t / schedule.alpha_bars[step].sqrt()
        return 2 * math.sqrt(a_p) * x_bar - forward  # x_bar - (sigma_prev - sigma_t) eps

    with pytest.raises(AssertionError, match="The step goes the wrong way"):
        check_euler_step_in_sigma(backwards)


# ---------------------------------------------------------------------------- Heun
def _heun(slope, x_bar, sigma, sigma_next, *, last="euler", second_at="euler_point"):
    h = sigma_next - sigma
    d = slope(x_bar, sigma)
    x_e = x_bar + h * d
    if sigma_next == 0 and last == "euler":
        return x_e
    d2 = slope(x_e if second_at == "euler_point" else x_bar, sigma_next)
    return x_bar + h * 0.5 * (d + d2)


def test_heun_checker_accepts_algorithm_1(capsys):
    check_heun_step(_heun)
    assert "check_heun_step passed" in capsys.readouterr().out


def test_heun_checker_names_the_correction_at_the_last_step():
    with pytest.raises(AssertionError, match="evaluated the slope at sigma = 0.*plain Euler step"):
        check_heun_step(lambda *a: _heun(*a, last="heun"))


def test_heun_checker_names_the_second_slope_taken_at_the_start():
    with pytest.raises(AssertionError, match="second slope at the starting point"):
        check_heun_step(lambda *a: _heun(*a, second_at="start"))


def test_heun_checker_names_a_plain_euler_step_and_the_end_slope_alone():
    def euler(slope, x_bar, sigma, sigma_next):
        return x_bar + (sigma_next - sigma) * slope(x_bar, sigma)

    def end_only(slope, x_bar, sigma, sigma_next):
        x_e = euler(slope, x_bar, sigma, sigma_next)
        if sigma_next == 0:
            return x_e
        return x_bar + (sigma_next - sigma) * slope(x_e, sigma_next)

    with pytest.raises(AssertionError, match="the Euler step alone"):
        check_heun_step(euler)
    with pytest.raises(AssertionError, match="only the slope at the end"):
        check_heun_step(end_only)


def test_heun_checker_counts_the_network_calls():
    def wasteful(slope, x_bar, sigma, sigma_next):
        slope(x_bar, sigma)  # an extra evaluation whose result is thrown away
        return _heun(slope, x_bar, sigma, sigma_next)

    with pytest.raises(AssertionError, match="called slope 3 times; a Heun step needs 2"):
        check_heun_step(wasteful)


def test_the_heun_stand_in_depends_on_both_of_its_arguments():
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    slope = RecordingSlope()
    assert not torch.allclose(slope(x, 1.0), slope(x, 0.5))
    assert not torch.allclose(slope(x, 1.0), slope(x + 0.1, 1.0))
    assert len(slope.calls) == 4


# ---------------------------------------------------------------------------- EDM's sigmas
def _karras(lo, hi, n, rho, *, inner=None, outer=None, final=True, denominator="n-1"):
    inner = 1 / rho if inner is None else inner
    outer = rho if outer is None else outer
    i = torch.arange(n, dtype=torch.float64) / ((n - 1) if denominator == "n-1" else n)
    sigmas = (hi**inner + i * (lo**inner - hi**inner)) ** outer
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)]) if final else sigmas


def test_karras_checker_accepts_equation_5_and_the_package_function(capsys):
    check_karras_sigmas(_karras)
    check_karras_sigmas(karras_sigmas)
    check_karras_sigmas(lambda *a: _karras(*a).tolist())
    assert capsys.readouterr().out.count("check_karras_sigmas passed") == 3


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        (lambda lo, hi, n, rho: _karras(lo, hi, n, rho, final=False), "misses the final sigma_N"),
        (
            lambda lo, hi, n, rho: _karras(lo, hi, n, rho, inner=-1 / rho, outer=-rho),
            "The exponent has the wrong sign",
        ),
        (
            lambda lo, hi, n, rho: _karras(lo, hi, n, rho, inner=rho, outer=1 / rho),
            "The exponents are swapped",
        ),
        (lambda lo, hi, n, rho: _karras(lo, hi, n, 1.0), "spaces sigma evenly"),
        (lambda lo, hi, n, rho: _karras(lo, hi, n, rho, denominator="n"), "i / N instead"),
        (lambda lo, hi, n, rho: _karras(lo, hi, n, rho).flip(0), "It runs upward"),
    ],
)
def test_karras_checker_names_the_usual_mistakes(wrong, named):
    with pytest.raises(AssertionError, match=f"^check_karras_sigmas failed: .*{named}"):
        check_karras_sigmas(wrong)
