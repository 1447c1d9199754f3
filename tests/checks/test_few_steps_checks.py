"""The few-steps checkers accept the reference solutions and name the usual mistakes."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial import checks
from ddpm_tutorial.checks.few_steps import (
    check_consistency_scalings,
    check_distillation_target,
    check_reflow_pairs,
)
from ddpm_tutorial.flow_matching import flow_times, sample_flow
from ddpm_tutorial.reverse_process import ddim_step


# ---------------------------------------------------------------------------- reflow's pairs
def _euler(model, path, z, times, scale=None):
    scale = path.time_scale if scale is None else scale
    x = z
    for t, t_next in zip(times[:-1], times[1:]):
        x = x + (t_next - t) * model(x, torch.full((x.shape[0],), scale * t))
    return x


def test_reflow_pairs_checker_accepts_sample_flow_and_a_hand_written_loop(capsys):
    check_reflow_pairs(
        lambda model, path, z, n: sample_flow(model, path, z.shape, num_steps=n, x_T=z)
    )
    check_reflow_pairs(lambda model, path, z, n: _euler(model, path, z, flow_times(n)))
    assert capsys.readouterr().out.count("check_reflow_pairs passed") == 2


def test_reflow_pairs_checker_names_fresh_noise_instead_of_the_pairs_own():
    def fresh(model, path, z, n):
        return _euler(model, path, torch.randn_like(z), flow_times(n))

    with pytest.raises(AssertionError, match="must start from its own noise z"):
        check_reflow_pairs(fresh)


def test_reflow_pairs_checker_leaves_the_readers_random_state_as_it_was():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_reflow_pairs(lambda model, path, z, n: _euler(model, path, z, flow_times(n)))
    assert torch.equal(torch.rand(3), expected)


def test_reflow_pairs_checker_names_time_running_from_data_to_noise():
    with pytest.raises(AssertionError, match="Time runs the wrong way"):
        check_reflow_pairs(lambda model, path, z, n: _euler(model, path, z, flow_times(n)[::-1]))


def test_reflow_pairs_checker_names_a_network_called_with_t_instead_of_1000_t():
    with pytest.raises(AssertionError, match="called with t itself"):
        check_reflow_pairs(
            lambda model, path, z, n: _euler(model, path, z, flow_times(n), scale=1.0)
        )


def test_reflow_pairs_checker_names_a_loop_that_stops_before_t_zero():
    with pytest.raises(AssertionError, match="one step short of t = 0"):
        check_reflow_pairs(lambda model, path, z, n: _euler(model, path, z, flow_times(n)[:-1]))


# ---------------------------------------------------------------------------- distillation's target
def _teacher_steps(teacher, x_t, step, mid, end, schedule):
    B = x_t.shape[0]
    x_mid, _ = ddim_step(x_t, step, mid, teacher(x_t, torch.full((B,), step)), schedule)
    return ddim_step(x_mid, mid, end, teacher(x_mid, torch.full((B,), mid)), schedule)


def _alpha_bar(schedule, step):
    return (
        schedule.alpha_bars[step].double() if step >= 0 else torch.tensor(1.0, dtype=torch.float64)
    )


def _target(teacher, x_t, step, mid, end, schedule, *, root=True, use_mid=False):
    x_end, _ = _teacher_steps(teacher, x_t, step, mid, end, schedule)
    f = torch.sqrt if root else (lambda v: v)
    ab_t, ab_end = _alpha_bar(schedule, step), _alpha_bar(schedule, mid if use_mid else end)
    ratio = f(1 - ab_end) / f(1 - ab_t)
    return (x_end - ratio * x_t) / (f(ab_end) - ratio * f(ab_t))


def test_distillation_target_checker_accepts_salimans_and_hos_target(capsys):
    check_distillation_target(_target)
    assert "check_distillation_target passed" in capsys.readouterr().out


def test_distillation_target_checker_names_missing_square_roots():
    with pytest.raises(AssertionError, match="square roots are missing"):
        check_distillation_target(lambda *a: _target(*a, root=False))


def test_distillation_target_checker_names_the_middle_steps_alpha_bar():
    with pytest.raises(AssertionError, match="alpha_bar of the middle step"):
        check_distillation_target(lambda *a: _target(*a, use_mid=True))


def test_distillation_target_checker_names_the_teachers_own_clean_image():
    with pytest.raises(AssertionError, match="teacher's clean-image prediction"):
        check_distillation_target(lambda *a: _teacher_steps(*a)[1])


def test_distillation_target_checker_reports_an_error_raised_by_the_readers_code():
    def broken(teacher, x_t, step, mid, end, schedule):
        raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="raised RuntimeError: boom"):
        check_distillation_target(broken)


# ---------------------------------------------------------------------------- consistency models
def _scalings(t, sigma_data, eps):
    c_skip = sigma_data**2 / ((t - eps) ** 2 + sigma_data**2)
    c_out = sigma_data * (t - eps) / (sigma_data**2 + t**2).sqrt()
    return c_skip, c_out


def test_consistency_scalings_checker_accepts_the_shifted_scalings_that_meet_the_boundary(capsys):
    check_consistency_scalings(_scalings)
    c_skip, c_out = _scalings(torch.tensor([0.002], dtype=torch.float64), 0.5, 0.002)
    assert c_skip.item() == 1.0 and c_out.item() == 0.0
    assert "check_consistency_scalings passed" in capsys.readouterr().out


def test_consistency_scalings_checker_names_edms_unshifted_scalings():
    def edm(t, sigma_data, eps):
        return sigma_data**2 / (t**2 + sigma_data**2), sigma_data * t / (
            sigma_data**2 + t**2
        ).sqrt()

    with pytest.raises(AssertionError, match="EDM's scalings"):
        check_consistency_scalings(edm)


def test_consistency_scalings_checker_asks_for_a_pair():
    with pytest.raises(AssertionError, match=r"return the pair \(c_skip, c_out\)"):
        check_consistency_scalings(lambda t, sigma_data, eps: t)


def test_few_steps_checkers_are_importable_from_the_checks_package():
    for name in ("check_reflow_pairs", "check_distillation_target", "check_consistency_scalings"):
        assert getattr(checks, name) is globals()[name]
