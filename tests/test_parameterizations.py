"""Noise, clean image and v: each determines the others given x_t."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from ddpm_tutorial.forward_process import add_noise
from ddpm_tutorial.parameterizations import (
    noise_from_v,
    noise_from_x0,
    v_from_x0_noise,
    x0_and_noise,
    x0_from_noise,
    x0_from_v,
)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(6, 1, 5, 5, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(6, 1, 5, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 100, 500, 900, 999])
    return x0, noise, t


def test_noise_to_x0_to_noise_round_trip_is_exact(schedule, batch):
    x0, noise, t = batch
    x_t = add_noise(x0, t, noise, schedule)
    x0_back = x0_from_noise(x_t, t, noise, schedule)
    torch.testing.assert_close(x0_back, x0, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(
        noise_from_x0(x_t, t, x0_back, schedule), noise, rtol=1e-7, atol=1e-7
    )


def test_v_conversions_round_trip(schedule, batch):
    x0, noise, t = batch
    x_t = add_noise(x0, t, noise, schedule)
    v = v_from_x0_noise(x0, noise, t, schedule)
    torch.testing.assert_close(x0_from_v(x_t, t, v, schedule), x0, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(noise_from_v(x_t, t, v, schedule), noise, rtol=1e-7, atol=1e-7)


def test_x_t_and_v_are_a_rotation_of_x0_and_noise(linear_schedule, batch):
    """(x_t, v) = R(phi) (x0, noise) with cos(phi) = sqrt(ab): lengths are preserved per element."""
    x0, noise, t = batch
    x_t = add_noise(x0, t, noise, linear_schedule)
    v = v_from_x0_noise(x0, noise, t, linear_schedule)
    torch.testing.assert_close(x_t**2 + v**2, x0**2 + noise**2)


def test_float32_conversions_stay_close_away_from_the_noisiest_steps(linear_schedule):
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.rand(4, 8, generator=g) * 2 - 1, torch.randn(4, 8, generator=g)
    t = torch.tensor([0, 200, 400, 600])
    x_t = add_noise(x0, t, noise, linear_schedule)
    out = x0_from_noise(x_t, t, noise, linear_schedule)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=1e-4)


def test_v_matches_diffusers_get_velocity(linear_schedule, batch):
    x0, noise, t = (v.float() if v.is_floating_point() else v for v in batch)
    ref = DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        clip_sample=False,
    )
    torch.testing.assert_close(
        v_from_x0_noise(x0, noise, t, linear_schedule),
        ref.get_velocity(x0, noise, t),
        rtol=1e-3,
        atol=1e-5,
    )


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_x0_and_noise_recovers_both_from_any_prediction(linear_schedule, batch, prediction):
    x0, noise, t = batch
    x_t = add_noise(x0, t, noise, linear_schedule)
    output = {
        "eps": noise,
        "x0": x0,
        "v": v_from_x0_noise(x0, noise, t, linear_schedule),
    }[prediction]
    x0_pred, eps_pred = x0_and_noise(output, x_t, t, linear_schedule, prediction)
    torch.testing.assert_close(x0_pred, x0, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(eps_pred, noise, rtol=1e-6, atol=1e-6)


def test_x0_and_noise_refuses_an_unknown_prediction(linear_schedule, batch):
    x0, noise, t = batch
    with pytest.raises(ValueError, match="unknown prediction 'score'"):
        x0_and_noise(noise, x0, t, linear_schedule, "score")  # type: ignore[arg-type]
