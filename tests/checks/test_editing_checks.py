"""The editing checkers accept the reference solutions and name the usual mistakes."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial import checks
from ddpm_tutorial.checks.editing import (
    check_ddim_inversion_step,
    check_repaint_replace,
    check_sdedit_start,
)
from ddpm_tutorial.editing import ddim_inversion_step
from ddpm_tutorial.forward_process import add_noise


def _full(x, step):
    return torch.full((x.shape[0],), step, dtype=torch.long)


def _ab(schedule, step):
    return schedule.alpha_bars[step]


# ---------------------------------------------------------------------------- SDEdit
def sdedit_start(x0, noise, strength, schedule):
    k = round(strength * (schedule.num_steps - 1))
    return add_noise(x0, _full(x0, k), noise, schedule)


def test_sdedit_checker_accepts_noising_to_the_step_of_the_strength(capsys):
    check_sdedit_start(sdedit_start)
    assert "check_sdedit_start passed" in capsys.readouterr().out


def test_sdedit_checker_names_missing_square_roots():
    def no_sqrt(x0, noise, strength, schedule):
        ab = _ab(schedule, round(strength * (schedule.num_steps - 1)))
        return ab * x0 + (1 - ab) * noise

    with pytest.raises(AssertionError, match="square roots are missing"):
        check_sdedit_start(no_sqrt)


def test_sdedit_checker_names_a_strength_measured_from_the_wrong_end():
    def flipped(x0, noise, strength, schedule):
        return sdedit_start(x0, noise, 1 - strength, schedule)

    with pytest.raises(AssertionError, match="strength is measured the wrong way"):
        check_sdedit_start(flipped)


def test_sdedit_checker_says_what_differs_for_an_unknown_mistake():
    with pytest.raises(AssertionError, match=r"^check_sdedit_start failed: x at strength 0.25"):
        check_sdedit_start(lambda x0, noise, strength, schedule: x0)


# ---------------------------------------------------------------------------- RePaint
def repaint_replace(x_generated, images, mask, step, noise, schedule):
    known = add_noise(images, _full(images, step), noise, schedule)
    return mask * known + (1 - mask) * x_generated


def test_repaint_checker_accepts_the_noised_input_where_the_mask_is_one(capsys):
    check_repaint_replace(repaint_replace)
    assert "check_repaint_replace passed" in capsys.readouterr().out


def test_repaint_checker_names_pasting_the_clean_input():
    def clean(x_generated, images, mask, step, noise, schedule):
        return mask * images + (1 - mask) * x_generated

    with pytest.raises(AssertionError, match="pasted the clean input"):
        check_repaint_replace(clean)


def test_repaint_checker_names_an_inverted_mask():
    def inverted(x_generated, images, mask, step, noise, schedule):
        return repaint_replace(x_generated, images, 1 - mask, step, noise, schedule)

    with pytest.raises(AssertionError, match="mask is inverted"):
        check_repaint_replace(inverted)


# ---------------------------------------------------------------------------- inversion
def inversion_step(model, x, step, next_step, schedule):
    eps = model(x, _full(x, max(step, 0)))
    return ddim_inversion_step(x, step, next_step, eps, schedule)


def written_out(model, x, step, next_step, schedule):
    eps = model(x, _full(x, max(step, 0)))
    ab = _ab(schedule, step) if step >= 0 else torch.tensor(1.0)
    x0_pred = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
    ab_next = _ab(schedule, next_step)
    return ab_next.sqrt() * x0_pred + (1 - ab_next).sqrt() * eps


def test_inversion_checker_accepts_the_package_step_and_the_formula(capsys):
    check_ddim_inversion_step(inversion_step)
    check_ddim_inversion_step(written_out)
    assert capsys.readouterr().out.count("check_ddim_inversion_step passed") == 2


def test_inversion_checker_names_the_noise_predicted_at_the_next_step():
    def at_next(model, x, step, next_step, schedule):
        eps = model(x, _full(x, next_step))
        return ddim_inversion_step(x, step, next_step, eps, schedule)

    with pytest.raises(AssertionError, match="predicted the noise at next_step"):
        check_ddim_inversion_step(at_next)


def test_inversion_checker_names_x0_estimated_with_the_next_steps_alpha_bar():
    def wrong_x0(model, x, step, next_step, schedule):
        eps = model(x, _full(x, max(step, 0)))
        ab_next = _ab(schedule, next_step)
        x0_pred = (x - (1 - ab_next).sqrt() * eps) / ab_next.sqrt()
        return ab_next.sqrt() * x0_pred + (1 - ab_next).sqrt() * eps

    with pytest.raises(AssertionError, match="x0_pred with alpha_bar of next_step"):
        check_ddim_inversion_step(wrong_x0)


def test_editing_checkers_are_importable_from_the_checks_package():
    for name in ("check_sdedit_start", "check_repaint_replace", "check_ddim_inversion_step"):
        assert getattr(checks, name) is globals()[name]
        assert name in checks.__all__
