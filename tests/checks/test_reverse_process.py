"""The reverse-process checkers accept the reference solutions and reject the usual mistakes."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial import checks
from ddpm_tutorial.checks import reverse_process as rp
from ddpm_tutorial.forward_process import add_noise
from ddpm_tutorial.reverse_process import ddpm_step


def _at(values, t, x):
    return values[t].to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


# ---------------------------------------------------------------- reference solutions
def steps_reference(T):
    return list(reversed(range(T)))


def x0_reference(x_t, t, eps_pred, schedule):
    ab = _at(schedule.alpha_bars, t, x_t)
    return (x_t - (1 - ab).sqrt() * eps_pred) / ab.sqrt()


def loop_reference(model, schedule, shape, generator):
    x_t = torch.randn(shape, generator=generator)
    for step in reversed(range(schedule.num_steps)):
        t = torch.full((shape[0],), step, dtype=torch.long)
        x_t, _ = ddpm_step(x_t, step, model(x_t, t), schedule, generator=generator)
    return x_t


def step_reference(
    x_t,
    step,
    eps_pred,
    schedule,
    noise,
    variance="beta",
    *,
    sqrt_alpha=True,
    alpha_bar=True,
    noise_at_last=False,
):
    beta, alpha = schedule.betas[step].item(), schedule.alphas[step].item()
    ab = schedule.alpha_bars[step].item() if alpha_bar else alpha
    divisor = alpha**0.5 if sqrt_alpha else alpha
    mean = (x_t - beta / (1 - ab) ** 0.5 * eps_pred) / divisor
    if step == 0 and not noise_at_last:
        return mean
    var = beta if variance == "beta" else schedule.posterior_variance[step].item()
    return mean + var**0.5 * noise


def sigma_reference(schedule, variance):
    if variance == "beta":
        return schedule.betas.sqrt()
    return (schedule.betas * (1 - schedule.alpha_bars_prev) / (1 - schedule.alpha_bars)).sqrt()


def noise_error_reference(model, x0, noise, true_step, claimed_step, schedule):
    B = x0.shape[0]
    x_t = add_noise(x0, torch.full((B,), true_step), noise, schedule)
    eps_pred = model(x_t, torch.full((B,), claimed_step))
    return ((eps_pred - noise) ** 2).mean().item()


# ---------------------------------------------------------------- every checker is exported
def test_every_checker_is_importable_from_the_checks_package():
    for name in rp.__all__:
        assert getattr(checks, name) is getattr(rp, name)
    assert len(rp.__all__) >= 6


# ---------------------------------------------------------------- check_step_order
def test_step_order_accepts_steps_from_t_minus_one_down_to_zero(capsys):
    checks.check_step_order(steps_reference)
    checks.check_step_order(list(range(999, -1, -1)))
    assert "check_step_order passed" in capsys.readouterr().out


def test_step_order_rejects_steps_that_go_upward():
    with pytest.raises(AssertionError, match="upward"):
        checks.check_step_order(lambda T: list(range(T)))


def test_step_order_rejects_the_papers_one_based_steps():
    with pytest.raises(AssertionError, match="0-based"):
        checks.check_step_order(lambda T: list(range(T, 0, -1)))


def test_step_order_shows_a_typical_T_first_and_the_edge_case_T_1_last():
    tried = []

    def recording(T):
        tried.append(T)
        return steps_reference(T)

    checks.check_step_order(recording)
    assert tried[0] in (10, 1000)
    assert tried[-1] == 1


def test_step_order_reports_a_plain_mistake_at_a_typical_T():
    with pytest.raises(AssertionError, match="for T = 10, your steps begin") as info:
        checks.check_step_order(lambda T: list(range(T, 0, -1)))
    assert "T = 1," not in str(info.value)


def test_step_order_still_catches_a_mistake_only_at_T_1():
    def wrong_at_one(T):
        return list(range(T - 1, 0, -1)) + ([0] if T > 1 else [])

    with pytest.raises(AssertionError, match="for T = 1, .*exactly T = 1"):
        checks.check_step_order(wrong_at_one)


def test_step_order_rejects_a_missing_step():
    with pytest.raises(AssertionError, match="exactly T"):
        checks.check_step_order(lambda T: list(range(T - 1, 0, -1)))


# ---------------------------------------------------------------- check_x0_from_noise
def test_x0_from_noise_accepts_the_reference(capsys):
    checks.check_x0_from_noise(x0_reference)
    assert "check_x0_from_noise passed" in capsys.readouterr().out


def test_x0_from_noise_rejects_alpha_in_place_of_alpha_bar():
    def wrong(x_t, t, eps_pred, schedule):
        a = _at(schedule.alphas, t, x_t)
        return (x_t - (1 - a).sqrt() * eps_pred) / a.sqrt()

    with pytest.raises(AssertionError, match="alphas\\[t\\] where alpha_bars\\[t\\]"):
        checks.check_x0_from_noise(wrong)


def test_x0_from_noise_rejects_a_missing_square_root():
    def wrong(x_t, t, eps_pred, schedule):
        ab = _at(schedule.alpha_bars, t, x_t)
        return (x_t - (1 - ab).sqrt() * eps_pred) / ab

    with pytest.raises(AssertionError, match="square root"):
        checks.check_x0_from_noise(wrong)


# ---------------------------------------------------------------- check_sampling_loop
def test_sampling_loop_accepts_the_reference(capsys):
    checks.check_sampling_loop(loop_reference)
    assert "check_sampling_loop passed" in capsys.readouterr().out


def test_sampling_loop_rejects_steps_that_go_upward():
    def wrong(model, schedule, shape, generator):
        x_t = torch.randn(shape, generator=generator)
        for step in range(schedule.num_steps):
            t = torch.full((shape[0],), step, dtype=torch.long)
            x_t, _ = ddpm_step(x_t, step, model(x_t, t), schedule, generator=generator)
        return x_t

    with pytest.raises(AssertionError, match="upward"):
        checks.check_sampling_loop(wrong)


def test_sampling_loop_rejects_noise_added_at_the_last_step():
    def wrong(model, schedule, shape, generator):
        x_t = torch.randn(shape, generator=generator)
        for step in reversed(range(schedule.num_steps)):
            t = torch.full((shape[0],), step, dtype=torch.long)
            x_t, _ = ddpm_step(x_t, step, model(x_t, t), schedule, generator=generator)
            if step == 0:
                x_t = x_t + schedule.betas[0].sqrt().item() * torch.randn(
                    shape, generator=generator
                )
        return x_t

    with pytest.raises(AssertionError, match="output of your loop"):
        checks.check_sampling_loop(wrong)


def test_sampling_loop_rejects_a_loop_that_ignores_the_generator():
    def wrong(model, schedule, shape, generator):
        return loop_reference(model, schedule, shape, torch.Generator().manual_seed(123))

    with pytest.raises(AssertionError, match="generator"):
        checks.check_sampling_loop(wrong)


def test_sampling_loop_rejects_a_float_step_passed_to_the_model():
    def wrong(model, schedule, shape, generator):
        x_t = torch.randn(shape, generator=generator)
        for step in reversed(range(schedule.num_steps)):
            eps = model(x_t, torch.full((shape[0],), step / schedule.num_steps))
            x_t, _ = ddpm_step(x_t, step, eps, schedule, generator=generator)
        return x_t

    with pytest.raises(AssertionError, match="int64"):
        checks.check_sampling_loop(wrong)


# ---------------------------------------------------------------- check_denoise_step
def test_denoise_step_accepts_the_reference_for_both_variances(capsys):
    checks.check_denoise_step(step_reference)
    checks.check_denoise_step(
        lambda *a: step_reference(*a, variance="posterior"), variance="posterior"
    )
    checks.check_denoise_step(lambda x, s, e, sch, z: ddpm_step(x, s, e, sch, noise=z))
    assert capsys.readouterr().out.count("check_denoise_step passed") == 3


def test_denoise_step_rejects_a_missing_square_root_on_alpha():
    with pytest.raises(AssertionError, match="sqrt\\(alpha_t\\)"):
        checks.check_denoise_step(lambda *a: step_reference(*a, sqrt_alpha=False))


def test_denoise_step_rejects_alpha_in_place_of_alpha_bar():
    with pytest.raises(AssertionError, match="alpha_t where alpha_bar_t"):
        checks.check_denoise_step(lambda *a: step_reference(*a, alpha_bar=False))


def test_denoise_step_rejects_noise_at_the_last_step():
    with pytest.raises(AssertionError, match="step 0"):
        checks.check_denoise_step(lambda *a: step_reference(*a, noise_at_last=True))


def test_denoise_step_rejects_the_other_variance():
    with pytest.raises(AssertionError, match="beta variance"):
        checks.check_denoise_step(step_reference, variance="posterior")


# ---------------------------------------------------------------- check_no_noise_at_last_step
def test_no_noise_at_last_step_accepts_the_reference(capsys):
    checks.check_no_noise_at_last_step(step_reference)
    assert "check_no_noise_at_last_step passed" in capsys.readouterr().out


def test_no_noise_at_last_step_rejects_noise_at_step_zero():
    with pytest.raises(AssertionError, match="at step 0 your output changes"):
        checks.check_no_noise_at_last_step(lambda *a: step_reference(*a, noise_at_last=True))


def test_no_noise_at_last_step_rejects_a_step_that_never_adds_noise():
    def wrong(x_t, step, eps_pred, schedule, noise):
        return (
            step_reference(x_t, 0, eps_pred, schedule, noise)
            if step == 0
            else (step_reference(x_t, step, eps_pred, schedule, torch.zeros_like(noise)))
        )

    with pytest.raises(AssertionError, match="ignores the noise"):
        checks.check_no_noise_at_last_step(wrong)


# ---------------------------------------------------------------- check_sigma_choice
def test_sigma_choice_accepts_the_reference(capsys):
    checks.check_sigma_choice(sigma_reference)
    assert "check_sigma_choice passed" in capsys.readouterr().out


def test_sigma_choice_rejects_the_variance_in_place_of_the_standard_deviation():
    with pytest.raises(AssertionError, match="not the standard deviation"):
        checks.check_sigma_choice(lambda s, v: sigma_reference(s, v) ** 2)


def test_sigma_choice_rejects_alpha_bar_t_in_place_of_alpha_bar_t_minus_one():
    def wrong(schedule, variance):
        if variance == "beta":
            return schedule.betas.sqrt()
        return (schedule.betas * (1 - schedule.alpha_bars) / (1 - schedule.alpha_bars)).sqrt()

    with pytest.raises(AssertionError, match="alpha_bars_prev"):
        checks.check_sigma_choice(wrong)


# ---------------------------------------------------------------- check_noise_error
def test_noise_error_accepts_the_reference(capsys):
    checks.check_noise_error(noise_error_reference)
    assert "check_noise_error passed" in capsys.readouterr().out


def test_noise_error_rejects_noising_at_the_claimed_step():
    def wrong(model, x0, noise, true_step, claimed_step, schedule):
        return noise_error_reference(model, x0, noise, claimed_step, claimed_step, schedule)

    with pytest.raises(AssertionError, match="noised the image at the claimed step"):
        checks.check_noise_error(wrong)


def test_noise_error_rejects_telling_the_model_the_true_step():
    def wrong(model, x0, noise, true_step, claimed_step, schedule):
        return noise_error_reference(model, x0, noise, true_step, true_step, schedule)

    with pytest.raises(AssertionError, match="told the model the true step"):
        checks.check_noise_error(wrong)


def test_noise_error_explains_a_per_example_value_that_was_not_reshaped():
    def no_reshape(model, x0, noise, true_step, claimed_step, schedule):
        B = x0.shape[0]
        alpha_bar = schedule.alpha_bars[torch.full((B,), true_step)].float()  # (B,)
        x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
        eps_pred = model(x_t, torch.full((B,), claimed_step))
        return ((eps_pred - noise) ** 2).mean().item()

    with pytest.raises(AssertionError) as info:
        checks.check_noise_error(no_reshape)
    message = str(info.value)
    assert message.startswith(
        "check_noise_error failed: a per-example value of shape (B,) = (4,) must be reshaped to "
        "(B, 1, 1, 1) before it multiplies an image batch"
    )
    assert "\n" not in message


def test_x0_from_noise_explains_a_per_example_value_that_was_not_reshaped():
    def no_reshape(x_t, t, eps_pred, schedule):
        ab = schedule.alpha_bars[t].to(x_t.dtype)  # (B,)
        return (x_t - (1 - ab).sqrt() * eps_pred) / ab.sqrt()

    with pytest.raises(AssertionError, match=r"must be reshaped to \(B, 1, 1, 1\)"):
        checks.check_x0_from_noise(no_reshape)


def test_noise_error_rejects_a_sum_in_place_of_a_mean():
    def wrong(model, x0, noise, true_step, claimed_step, schedule):
        return (
            noise_error_reference(model, x0, noise, true_step, claimed_step, schedule) * x0.numel()
        )

    with pytest.raises(AssertionError, match="summed"):
        checks.check_noise_error(wrong)
