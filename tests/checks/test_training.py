"""The training checkers accept the reference and reject the usual mistakes, readably."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddpm_tutorial import checks
from ddpm_tutorial.forward_process import add_noise
from ddpm_tutorial.losses import noise_prediction_loss


def _ab(schedule, t):
    return schedule.alpha_bars[t].float().view(-1, 1, 1, 1)


# ---------------------------------------------------------------------------- the steps
def test_check_sample_t_range_accepts_randint_from_zero_to_T(capsys):
    checks.check_sample_t_range(lambda B, T, g: torch.randint(0, T, (B,), generator=g))
    assert "check_sample_t_range passed" in capsys.readouterr().out


def test_check_sample_t_range_rejects_the_papers_one_based_steps():
    with pytest.raises(AssertionError, match="0-based"):
        checks.check_sample_t_range(lambda B, T, g: torch.randint(1, T + 1, (B,), generator=g))


def test_check_sample_t_range_rejects_an_exclusive_upper_bound_mistake():
    with pytest.raises(AssertionError, match="never came up"):
        checks.check_sample_t_range(lambda B, T, g: torch.randint(0, T - 1, (B,), generator=g))


def test_check_sample_t_range_rejects_float_steps():
    with pytest.raises(AssertionError, match="int64"):
        checks.check_sample_t_range(lambda B, T, g: torch.rand(B, generator=g) * T)


def test_check_sample_t_range_rejects_steps_that_are_not_uniform():
    def skewed(B, T, g):
        u = torch.rand(B, generator=g)
        return (u**2 * T).long()

    with pytest.raises(AssertionError, match="not uniform"):
        checks.check_sample_t_range(skewed)


# ---------------------------------------------------------------------------- the target
def test_check_make_target_accepts_add_noise_and_the_noise(capsys):
    checks.check_make_target(lambda x0, t, noise, s: (add_noise(x0, t, noise, s), noise))
    assert "check_make_target passed" in capsys.readouterr().out


def test_check_make_target_rejects_x0_as_the_target():
    with pytest.raises(AssertionError, match="target is the noise we added, not the clean image"):
        checks.check_make_target(lambda x0, t, noise, s: (add_noise(x0, t, noise, s), x0))


def test_check_make_target_rejects_an_input_without_square_roots():
    def no_sqrt(x0, t, noise, s):
        ab = _ab(s, t)
        return ab * x0 + (1 - ab) * noise, noise

    with pytest.raises(AssertionError, match="square roots are missing"):
        checks.check_make_target(no_sqrt)


def test_check_make_target_rejects_a_single_return_value():
    with pytest.raises(AssertionError, match="pair"):
        checks.check_make_target(lambda x0, t, noise, s: noise)


# ---------------------------------------------------------------------------- the loss
def _loss(model, x0, schedule, generator, *, target="noise", t_low=0, sqrt=True):
    T, B = schedule.num_steps, x0.shape[0]
    t = torch.randint(t_low, T + t_low, (B,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    t = t.clamp(max=T - 1)
    ab = _ab(schedule, t)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise if sqrt else ab * x0 + (1 - ab) * noise
    return F.mse_loss(model(x_t, t), noise if target == "noise" else x0)


def test_check_loss_accepts_a_written_out_loss(capsys):
    checks.check_loss(_loss)
    assert "check_loss passed" in capsys.readouterr().out


def test_check_loss_accepts_the_package_loss():
    checks.check_loss(lambda m, x0, s, g: noise_prediction_loss(m, x0, s, generator=g))


def test_check_loss_rejects_x0_as_the_target():
    with pytest.raises(AssertionError, match="target is x0"):
        checks.check_loss(lambda m, x0, s, g: _loss(m, x0, s, g, target="x0"))


def test_check_loss_rejects_one_based_steps():
    with pytest.raises(AssertionError, match="1..T"):
        checks.check_loss(lambda m, x0, s, g: _loss(m, x0, s, g, t_low=1))


def test_check_loss_rejects_a_noisy_image_without_square_roots():
    with pytest.raises(AssertionError, match="without the square roots"):
        checks.check_loss(lambda m, x0, s, g: _loss(m, x0, s, g, sqrt=False))


def test_check_loss_rejects_a_loss_that_is_not_a_scalar():
    with pytest.raises(AssertionError, match="scalar"):
        checks.check_loss(lambda m, x0, s, g: torch.zeros(3))


# ---------------------------------------------------------------------------- a training step
def _step(model, x0, schedule, optimizer, generator, *, zero_grad=True, step=True):
    loss = noise_prediction_loss(model, x0, schedule, generator=generator)
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    if step:
        optimizer.step()
    return loss.detach()


def test_check_training_step_accepts_the_reference_step(capsys):
    checks.check_training_step(_step)
    assert "check_training_step passed" in capsys.readouterr().out


def test_check_training_step_rejects_a_step_without_zero_grad():
    with pytest.raises(AssertionError, match="zero_grad"):
        checks.check_training_step(lambda *a: _step(*a, zero_grad=False))


def test_check_training_step_rejects_a_step_that_never_updates_the_weights():
    with pytest.raises(AssertionError, match="did not change"):
        checks.check_training_step(lambda *a: _step(*a, step=False))


def test_check_training_step_rejects_x0_as_the_target():
    def wrong(model, x0, schedule, optimizer, generator):
        loss = _loss(model, x0, schedule, generator, target="x0")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()

    with pytest.raises(AssertionError, match="target is x0"):
        checks.check_training_step(wrong)
