"""The forward-process checkers accept the reference and reject the usual mistakes, readably."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial import checks
from ddpm_tutorial.forward_process import add_noise, add_noise_step
from ddpm_tutorial.schedules import NoiseSchedule


def _ab(schedule, t):
    return schedule.alpha_bars[t].float().view(-1, 1, 1, 1)


def test_checkers_are_exported_from_the_checks_package():
    for name in ("check_add_noise", "check_add_noise_step", "check_alpha_bars", "check_snr"):
        assert callable(getattr(checks, name))


# ---------------------------------------------------------------------------- add_noise
def test_check_add_noise_accepts_the_package_function(capsys):
    checks.check_add_noise(add_noise)
    assert "check_add_noise passed" in capsys.readouterr().out


def test_check_add_noise_accepts_a_written_out_solution():
    def mine(x0, t, noise, schedule):  # written for images (B, C, H, W), as the chapter's first
        ab = _ab(schedule, t)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    checks.check_add_noise(mine, images_only=True)


def test_check_add_noise_accepts_a_solution_for_any_shape(capsys):
    def any_shape(x0, t, noise, schedule):
        ab = schedule.alpha_bars[t].to(x0.dtype).reshape(-1, *[1] * (x0.ndim - 1))
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    checks.check_add_noise(any_shape)
    assert "check_add_noise passed" in capsys.readouterr().out


def test_check_add_noise_names_a_solution_that_works_for_images_only():
    def images_only(x0, t, noise, schedule):
        ab = _ab(schedule, t)  # (B, 1, 1, 1) whatever the shape of x0
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    with pytest.raises(AssertionError) as info:
        checks.check_add_noise(images_only)
    message = str(info.value)
    assert (
        "works for (B, C, H, W) only: reshape the per-example coefficient to (B, 1, ..., 1) "
        "for any number of dimensions" in message
    )
    assert "(6, 5)" in message  # the 2-D batch (B, D) that showed it
    assert "\n" not in message


def test_check_add_noise_names_a_solution_that_fails_on_a_3d_batch():
    def two_or_four_dims(x0, t, noise, schedule):
        ab = schedule.alpha_bars[t].to(x0.dtype)
        ab = ab.view(-1, 1) if x0.ndim == 2 else ab.view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    with pytest.raises(AssertionError, match=r"works for \(B, C, H, W\) only.*\(6, 3, 5\)"):
        checks.check_add_noise(two_or_four_dims)


def test_check_add_noise_names_the_missing_square_roots():
    def no_sqrt(x0, t, noise, schedule):
        ab = _ab(schedule, t)
        return ab * x0 + (1 - ab) * noise

    with pytest.raises(AssertionError, match="square roots are missing"):
        checks.check_add_noise(no_sqrt)


def test_check_add_noise_names_alpha_instead_of_alpha_bar():
    def one_step_alpha(x0, t, noise, schedule):
        a = schedule.alphas[t].float().view(-1, 1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    with pytest.raises(AssertionError, match="alpha_t .* instead of alpha_bar_t"):
        checks.check_add_noise(one_step_alpha)


def test_check_add_noise_names_a_step_off_by_one():
    def shifted(x0, t, noise, schedule):
        ab = schedule.alpha_bars_prev[t].float().view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    with pytest.raises(AssertionError, match=r"alpha_bars\[t - 1\]"):
        checks.check_add_noise(shifted)


def test_check_add_noise_reports_an_exception_of_the_readers_code():
    def broken(x0, t, noise, schedule):
        raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="raised RuntimeError: boom"):
        checks.check_add_noise(broken)


def test_check_add_noise_reports_a_wrong_shape():
    with pytest.raises(AssertionError, match="shape"):
        checks.check_add_noise(lambda x0, t, noise, schedule: x0[:, 0])


def test_check_add_noise_reports_an_unknown_mistake_with_the_difference():
    with pytest.raises(AssertionError, match="differs from the reference by up to"):
        checks.check_add_noise(
            lambda x0, t, noise, schedule: add_noise(x0, t, noise, schedule) + 0.1
        )


# ---------------------------------------------------------------------------- add_noise_step
def test_check_add_noise_step_accepts_the_package_function(capsys):
    checks.check_add_noise_step(add_noise_step)
    assert "check_add_noise_step passed" in capsys.readouterr().out


def test_check_add_noise_step_names_the_missing_square_root_of_beta():
    def no_sqrt_beta(x_prev, t, noise, schedule):
        a = schedule.alphas[t].float().view(-1, 1, 1, 1)
        b = schedule.betas[t].float().view(-1, 1, 1, 1)
        return a.sqrt() * x_prev + b * noise

    with pytest.raises(AssertionError, match="square root of beta_t is missing"):
        checks.check_add_noise_step(no_sqrt_beta)


def test_check_add_noise_step_names_alpha_bar_in_place_of_alpha():
    def closed_form(x_prev, t, noise, schedule):
        return add_noise(x_prev, t, noise, schedule)

    with pytest.raises(AssertionError, match="closed form with alpha_bar_t"):
        checks.check_add_noise_step(closed_form)


def test_check_add_noise_step_names_an_unscaled_previous_image():
    def unscaled(x_prev, t, noise, schedule):
        return x_prev + schedule.betas[t].float().sqrt().view(-1, 1, 1, 1) * noise

    with pytest.raises(AssertionError, match="unscaled"):
        checks.check_add_noise_step(unscaled)


# ---------------------------------------------------------------------------- alpha_bars
def test_check_alpha_bars_accepts_a_cumulative_product(capsys):
    checks.check_alpha_bars(lambda betas: torch.cumprod(1 - betas, dim=0))
    assert "check_alpha_bars passed" in capsys.readouterr().out


def test_check_alpha_bars_accepts_a_python_loop():
    def loop(betas):
        out, running = [], 1.0
        for beta in betas.tolist():
            running *= 1 - beta
            out.append(running)
        return torch.tensor(out, dtype=betas.dtype)

    checks.check_alpha_bars(loop)


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (lambda betas: torch.cumsum(1 - betas, 0), "running sum"),
        (lambda betas: torch.cumprod(betas, 0), "product of the betas"),
        (lambda betas: 1 - betas, "the alphas themselves"),
        (lambda betas: 1 - torch.cumsum(betas, 0), "first-order approximation"),
        (
            lambda betas: torch.cat(
                [torch.ones(1, dtype=betas.dtype), torch.cumprod(1 - betas, 0)[:-1]]
            ),
            "shifted by one step",
        ),
    ],
)
def test_check_alpha_bars_names_each_common_mistake(wrong, words):
    with pytest.raises(AssertionError, match=words):
        checks.check_alpha_bars(wrong)


# ---------------------------------------------------------------------------- SNR
def test_check_snr_accepts_the_variance_ratio(capsys):
    checks.check_snr(lambda ab: ab / (1 - ab))
    assert "check_snr passed" in capsys.readouterr().out


def test_check_snr_agrees_with_the_schedules_own_snr():
    s = NoiseSchedule.cosine(20)
    lookup = {float(a): float(r) for a, r in zip(s.alpha_bars, s.snr, strict=True)}
    checks.check_snr(lambda ab: torch.tensor([lookup[float(a)] for a in ab], dtype=ab.dtype))


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (lambda ab: (1 - ab) / ab, "noise-to-signal"),
        (lambda ab: (ab / (1 - ab)).sqrt(), "standard deviations"),
        (lambda ab: (ab / (1 - ab)).log(), "log of the SNR"),
    ],
)
def test_check_snr_names_each_common_mistake(wrong, words):
    with pytest.raises(AssertionError, match=words):
        checks.check_snr(wrong)
