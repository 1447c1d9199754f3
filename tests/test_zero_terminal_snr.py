"""Zero terminal SNR (Lin et al. 2024, Algorithm 1): the rescaled schedule, the one beta it
allows to be 1, why a noise predictor cannot start from it and a v predictor can, checked
against diffusers' ``rescale_zero_terminal_snr``."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.reverse_process import sample_ddim
from ddpm_tutorial.schedules import NoiseSchedule, rescale_zero_terminal_snr

LINEAR = NoiseSchedule.linear(1000)
ZERO_SNR = rescale_zero_terminal_snr(LINEAR)


def test_the_linear_schedule_keeps_some_signal_at_its_last_step():
    assert math.isclose(float(LINEAR.alpha_bars[-1]), 4.04e-5, rel_tol=1e-2)


def test_the_rescaled_schedule_ends_at_exactly_zero_signal():
    assert float(ZERO_SNR.alpha_bars[-1]) == 0.0
    assert float(ZERO_SNR.betas[-1]) == 1.0
    assert float(ZERO_SNR.snr[-1]) == 0.0
    assert bool((ZERO_SNR.betas[:-1] > 0).all() and (ZERO_SNR.betas[:-1] < 1).all())


def test_rescaling_keeps_the_first_step_and_moves_sqrt_alpha_bar_by_one_affine_map():
    old, new = LINEAR.alpha_bars.sqrt(), ZERO_SNR.alpha_bars.sqrt()
    assert math.isclose(float(new[0]), float(old[0]), rel_tol=1e-12)
    slope = (new[0] - new[-1]) / (old[0] - old[-1])
    assert torch.allclose(new, slope * (old - old[-1]), atol=1e-12)
    assert bool((new[1:] < new[:-1]).all())  # still decreasing: every beta positive


def test_rescaling_returns_a_new_schedule_and_names_its_kind():
    assert ZERO_SNR.kind == "linear+zero-snr"
    assert float(LINEAR.betas[-1]) == pytest.approx(0.02)


def test_from_betas_accepts_a_last_beta_of_one_only_when_asked():
    betas = torch.tensor([0.1, 0.2, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"betas\[2\] = 1 does not"):
        NoiseSchedule.from_betas(betas)
    schedule = NoiseSchedule.from_betas(betas, allow_terminal_one=True)
    assert float(schedule.alpha_bars[-1]) == 0.0


def test_from_betas_still_rejects_a_one_before_the_end_or_a_beta_above_one():
    with pytest.raises(ValueError, match=r"betas\[1\] = 1 does not"):
        NoiseSchedule.from_betas(torch.tensor([0.1, 1.0, 0.2]), allow_terminal_one=True)
    with pytest.raises(ValueError, match=r"betas\[2\] = 1.5 does not"):
        NoiseSchedule.from_betas(torch.tensor([0.1, 0.2, 1.5]), allow_terminal_one=True)


def test_rescaling_needs_two_steps():
    with pytest.raises(ValueError, match="at least 2 steps to rescale; got T = 1"):
        rescale_zero_terminal_snr(NoiseSchedule.from_betas(torch.tensor([0.5])))


# ---------------------------------------------------------------------------- sampling
MU, S = 0.4, 0.5  # Gaussian data x0 ~ N(MU, S^2)


def _posterior(x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[x0 | x_t] and E[noise | x_t] for Gaussian data on the zero-SNR schedule."""
    ab = ZERO_SNR.alpha_bars[t].to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))
    x0 = MU + ab.sqrt() * S**2 / (ab * S**2 + 1 - ab) * (x_t - ab.sqrt() * MU)
    eps = (1 - ab).sqrt() * (x_t - ab.sqrt() * MU) / (ab * S**2 + 1 - ab)
    return x0, eps


def exact_v(x_t: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
    ab = ZERO_SNR.alpha_bars[t].to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))
    x0, eps = _posterior(x_t, t)
    return ab.sqrt() * eps - (1 - ab).sqrt() * x0


def exact_eps(x_t: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
    return _posterior(x_t, t)[1]


def _standard_noise(n: int = 4000) -> torch.Tensor:
    z = torch.randn(n, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (z - z.mean()) / z.std()


def test_a_v_predictor_samples_the_data_from_pure_noise_at_zero_snr():
    z = _standard_noise()
    out = sample_ddim(exact_v, ZERO_SNR, z.shape, num_steps=250, x_T=z, prediction="v")
    # no signal is left at the start, so no trace of the noise's mean 0 stays in the samples
    assert abs(float(out.mean()) - MU) < 1e-9
    assert abs(float(out.std()) - S) < 0.01


def test_a_noise_predictor_cannot_start_from_zero_snr_the_clean_image_divides_by_zero():
    z = _standard_noise(8)
    out = sample_ddim(exact_eps, ZERO_SNR, z.shape, num_steps=50, x_T=z)
    assert not bool(torch.isfinite(out).all())


# ---------------------------------------------------------------------------- diffusers
def test_rescaling_agrees_with_diffusers():
    scheduling_ddim = pytest.importorskip("diffusers.schedulers.scheduling_ddim")
    theirs = scheduling_ddim.rescale_zero_terminal_snr(LINEAR.betas.clone())
    assert torch.allclose(ZERO_SNR.betas, theirs, rtol=1e-12, atol=1e-15)
    assert float(theirs[-1]) == 1.0
