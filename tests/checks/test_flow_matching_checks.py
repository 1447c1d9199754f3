"""The flow-matching checkers accept the reference solutions and name the usual mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddpm_tutorial import checks
from ddpm_tutorial.checks import flow_matching
from ddpm_tutorial.checks.flow_matching import (
    check_flow_euler_sampler,
    check_flow_interpolate,
    check_flow_matching_loss,
    check_velocity_target,
)
from ddpm_tutorial.flow_matching import (
    flow_matching_loss,
    interpolate,
    sample_flow,
    velocity_target,
)


def _col(t, like):
    return t.reshape(-1, *([1] * (like.ndim - 1)))


# ---------------------------------------------------------------------------- the path
def test_interpolate_checker_accepts_the_package_function_and_the_formula(capsys):
    check_flow_interpolate(interpolate)
    check_flow_interpolate(lambda x0, noise, t: (1 - _col(t, x0)) * x0 + _col(t, x0) * noise)
    assert capsys.readouterr().out.count("check_flow_interpolate passed") == 2


def test_interpolate_checker_names_a_reversed_time():
    with pytest.raises(AssertionError, match="direction of t is reversed"):
        check_flow_interpolate(lambda x0, noise, t: _col(t, x0) * x0 + (1 - _col(t, x0)) * noise)


def test_interpolate_checker_names_ddpms_square_root_weights():
    def sqrt_weights(x0, noise, t):
        t = _col(t, x0)
        return (1 - t).sqrt() * x0 + t.sqrt() * noise

    with pytest.raises(AssertionError, match="square roots, DDPM's weights"):
        check_flow_interpolate(sqrt_weights)


def test_interpolate_checker_explains_a_missing_reshape_of_t():
    with pytest.raises(AssertionError, match="must be reshaped to \\(B, 1, 1, 1\\)"):
        check_flow_interpolate(lambda x0, noise, t: (1 - t) * x0 + t * noise)


# ---------------------------------------------------------------------------- the target
def test_velocity_checker_accepts_noise_minus_x0(capsys):
    check_velocity_target(velocity_target)
    check_velocity_target(lambda x0, noise: noise - x0)
    assert capsys.readouterr().out.count("check_velocity_target passed") == 2


def test_velocity_checker_names_the_flipped_sign():
    with pytest.raises(AssertionError, match="sign is flipped.*noise - x0"):
        check_velocity_target(lambda x0, noise: x0 - noise)


def test_velocity_checker_names_ddpms_noise_target():
    with pytest.raises(AssertionError, match="It is the noise: that is DDPM's target"):
        check_velocity_target(lambda x0, noise: noise)


# ---------------------------------------------------------------------------- the loss
def _loss(model, x0, t, noise, path, *, scale=None, target_sign=1.0, reverse=False, sqrt=False):
    tt = _col(t, x0)
    if sqrt:
        x_t = (1 - tt).sqrt() * x0 + tt.sqrt() * noise
    elif reverse:
        x_t = tt * x0 + (1 - tt) * noise
    else:
        x_t = (1 - tt) * x0 + tt * noise
    s = t * (path.time_scale if scale is None else scale)
    return F.mse_loss(model(x_t, s), target_sign * (noise - x0))


def test_loss_checker_accepts_the_package_loss_and_the_loss_written_out(capsys):
    check_flow_matching_loss(flow_matching_loss)
    check_flow_matching_loss(_loss)
    assert capsys.readouterr().out.count("check_flow_matching_loss passed") == 2


def test_loss_checker_names_a_network_called_with_t_instead_of_1000_t():
    with pytest.raises(AssertionError, match="called with t itself.*1000 t"):
        check_flow_matching_loss(lambda *a: _loss(*a, scale=1.0))


def test_loss_checker_names_the_flipped_sign_of_the_target():
    with pytest.raises(AssertionError, match="target's sign is flipped"):
        check_flow_matching_loss(lambda *a: _loss(*a, target_sign=-1.0))


def test_loss_checker_names_a_path_built_the_wrong_way_round():
    with pytest.raises(AssertionError, match="wrong way round.*direction of t is reversed"):
        check_flow_matching_loss(lambda *a: _loss(*a, reverse=True))


def test_loss_checker_names_square_root_weights():
    with pytest.raises(AssertionError, match="built with square roots"):
        check_flow_matching_loss(lambda *a: _loss(*a, sqrt=True))


def test_loss_checker_rejects_a_model_called_with_a_python_float_time():
    def wrong(model, x0, t, noise, path):
        x_t = interpolate(x0, noise, t)
        return F.mse_loss(model(x_t, 500.0), noise - x0)

    with pytest.raises(AssertionError, match="float tensor of shape \\(5,\\)"):
        check_flow_matching_loss(wrong)


# ---------------------------------------------------------------------------- a sampler
@torch.no_grad()
def _sampler(model, path, x_T, num_steps, *, times=None, scale=None, sign=1.0):
    grid = times if times is not None else torch.linspace(1, 0, num_steps + 1).tolist()
    x = x_T
    for t, t_next in zip(grid, grid[1:]):
        s = torch.full((x.shape[0],), (path.time_scale if scale is None else scale) * t)
        x = x + sign * (t_next - t) * model(x, s)
    return x


def test_sampler_checker_accepts_a_loop_and_the_package_sampler(capsys):
    check_flow_euler_sampler(_sampler)
    check_flow_euler_sampler(
        lambda model, path, x_T, n: sample_flow(model, path, x_T.shape, num_steps=n, x_T=x_T)
    )
    assert capsys.readouterr().out.count("check_flow_euler_sampler passed") == 2


def test_sampler_checker_names_the_off_by_one_that_stops_at_one_over_n():
    def stops_early(model, path, x_T, n):
        return _sampler(model, path, x_T, n, times=[1 - i / n for i in range(n)])

    with pytest.raises(AssertionError, match="stops at t = 1/N = 0.25.*N \\+ 1 times"):
        check_flow_euler_sampler(stops_early)


def test_sampler_checker_names_a_grid_of_n_times_instead_of_n_plus_one():
    def too_few(model, path, x_T, n):
        return _sampler(model, path, x_T, n, times=torch.linspace(1, 0, n).tolist())

    with pytest.raises(AssertionError, match="linspace\\(1, 0, N\\): N times make only N - 1"):
        check_flow_euler_sampler(too_few)


def test_sampler_checker_names_a_network_called_with_t_instead_of_1000_t():
    with pytest.raises(AssertionError, match="called with t itself"):
        check_flow_euler_sampler(lambda *a: _sampler(*a, scale=1.0))


def test_sampler_checker_names_steps_that_walk_toward_the_noise():
    with pytest.raises(AssertionError, match="moves the wrong way"):
        check_flow_euler_sampler(lambda *a: _sampler(*a, sign=-1.0))


def test_sampler_checker_names_an_integration_from_zero_up_to_one():
    def upward(model, path, x_T, n):
        return _sampler(model, path, x_T, n, times=torch.linspace(0, 1, n + 1).tolist())

    with pytest.raises(AssertionError, match="from t = 0 up to t = 1.*direction of t"):
        check_flow_euler_sampler(upward)


def test_every_flow_matching_checker_is_importable_from_the_checks_package():
    assert flow_matching.__all__
    for name in flow_matching.__all__:
        assert getattr(checks, name) is getattr(flow_matching, name)
