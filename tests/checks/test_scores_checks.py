"""The checkers of the scores chapter accept the reference solutions and name the usual mistakes."""

from __future__ import annotations

import math

import pytest

from ddpm_tutorial.checks.scores import (
    check_classifier_guided_noise,
    check_langevin_step,
    check_score_from_noise,
    check_score_from_v,
    check_x0_from_score,
)
from ddpm_tutorial.scores import score_from_noise, score_from_v, x0_from_score


def _ab(schedule, t):
    return schedule.alpha_bars[t].reshape(-1, 1, 1, 1)


def _a(schedule, t):
    return schedule.alphas[t].reshape(-1, 1, 1, 1)


# ---------------------------------------------------------------------------- score from noise
def test_score_checker_accepts_the_package_function_and_the_formula(capsys):
    check_score_from_noise(score_from_noise)
    check_score_from_noise(lambda eps, t, s: -eps / (1 - _ab(s, t)).sqrt())
    assert capsys.readouterr().out.count("check_score_from_noise passed") == 2


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda eps, t, s: eps / (1 - _ab(s, t)).sqrt(), "sign is flipped"),
        (lambda eps, t, s: -eps / (1 - _ab(s, t)), "divides by 1 - alpha_bar"),
        (lambda eps, t, s: -eps / (1 - _a(s, t)).sqrt(), "alphas\\[t\\] where alpha_bars"),
        (lambda eps, t, s: -(1 - _ab(s, t)).sqrt() * eps, "multiplies by sqrt"),
    ],
)
def test_score_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_score_from_noise(wrong)


def test_score_checker_explains_a_missing_reshape():
    with pytest.raises(AssertionError, match="reshape"):
        check_score_from_noise(lambda eps, t, s: -eps / (1 - s.alpha_bars[t]).sqrt())


# ---------------------------------------------------------------------------- Tweedie
def test_x0_checker_accepts_tweedies_formula(capsys):
    check_x0_from_score(x0_from_score)
    check_x0_from_score(lambda x, t, sc, s: (x + (1 - _ab(s, t)) * sc) / _ab(s, t).sqrt())
    assert capsys.readouterr().out.count("check_x0_from_score passed") == 2


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda x, t, sc, s: x + (1 - _ab(s, t)) * sc, "off by the factor sqrt\\(alpha_bar\\)"),
        (lambda x, t, sc, s: (x - (1 - _ab(s, t)) * sc) / _ab(s, t).sqrt(), "wrong sign"),
        (
            lambda x, t, sc, s: (x + (1 - _ab(s, t)).sqrt() * sc) / _ab(s, t).sqrt(),
            "by the variance",
        ),
    ],
)
def test_x0_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_x0_from_score(wrong)


# ---------------------------------------------------------------------------- v
def test_v_checker_accepts_the_package_function(capsys):
    check_score_from_v(score_from_v)
    assert "check_score_from_v passed" in capsys.readouterr().out


def test_v_checker_names_v_with_the_sign_flipped():
    def flipped(x_t, t, v, s):
        ab = _ab(s, t)
        eps = (1 - ab).sqrt() * x_t - ab.sqrt() * v  # as if v = sqrt(1 - ab) x0 - sqrt(ab) eps
        return -eps / (1 - ab).sqrt()

    with pytest.raises(AssertionError, match="v with the sign flipped"):
        check_score_from_v(flipped)


def test_v_checker_names_the_noise_returned_instead_of_the_score():
    with pytest.raises(AssertionError, match="That is the noise eps"):
        check_score_from_v(lambda x, t, v, s: (1 - _ab(s, t)).sqrt() * x + _ab(s, t).sqrt() * v)


# ---------------------------------------------------------------------------- Langevin
def test_langevin_checker_accepts_the_step(capsys):
    check_langevin_step(lambda x, sc, e, z: x + e / 2 * sc + math.sqrt(e) * z)
    assert "check_langevin_step passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda x, sc, e, z: x + e * sc + math.sqrt(e) * z, "The half is missing"),
        (lambda x, sc, e, z: x + e / 2 * sc + e * z, "scaled by step_size"),
        (lambda x, sc, e, z: x + e / 2 * sc, "No noise"),
        (lambda x, sc, e, z: x + e * sc + math.sqrt(2 * e) * z, "twice as large"),
    ],
)
def test_langevin_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_langevin_step(wrong)


# ---------------------------------------------------------------------------- classifier guidance
def _guided(eps, grad, t, s, scale):
    return eps - scale * (1 - _ab(s, t)).sqrt() * grad


def test_guidance_checker_accepts_eq_14_with_a_scale(capsys):
    check_classifier_guided_noise(_guided)
    assert "check_classifier_guided_noise passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda eps, g, t, s, w: eps + w * (1 - _ab(s, t)).sqrt() * g, "wrong sign"),
        (lambda eps, g, t, s, w: eps - w * g, "sqrt\\(1 - alpha_bar\\) is missing"),
        (lambda eps, g, t, s, w: eps - (1 - _ab(s, t)).sqrt() * g, "scale s is missing"),
    ],
)
def test_guidance_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_classifier_guided_noise(wrong)


def test_a_failing_checker_says_so_in_one_line():
    with pytest.raises(AssertionError) as info:
        check_score_from_noise(lambda eps, t, s: eps)
    assert str(info.value).startswith("check_score_from_noise failed:")
    assert "\n" not in str(info.value)
