"""Noise schedules: the properties every schedule must have, and diffusers as a reference."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from diffusers import DDPMScheduler

from ddpm_tutorial.schedules import SCHEDULE_KINDS, NoiseSchedule, gather_at


def test_alpha_bars_decrease_strictly_inside_zero_one_and_reach_noise(schedule):
    ab = schedule.alpha_bars
    assert schedule.num_steps == 1000 and ab.shape == (1000,)
    assert bool((ab > 0).all()) and bool((ab < 1).all())
    assert bool((ab[1:] < ab[:-1]).all()), "alpha_bars must decrease strictly"
    assert ab[-1].item() < 1e-3, (
        f"{schedule.kind}: alpha_bar_T = {ab[-1].item():.3g} is not pure noise"
    )


def test_every_table_is_float64_and_derived_from_the_betas(schedule):
    s = schedule
    for f in dataclasses.fields(s):
        value = getattr(s, f.name)
        if isinstance(value, torch.Tensor):
            assert value.dtype == torch.float64 and value.shape == (s.num_steps,), f.name
    torch.testing.assert_close(s.alphas, 1 - s.betas)
    expected_ab = torch.tensor(
        [math.prod(1 - b for b in s.betas[: i + 1].tolist()) for i in (0, 1, 499, 999)],
        dtype=torch.float64,
    )
    torch.testing.assert_close(s.alpha_bars[[0, 1, 499, 999]], expected_ab)
    assert s.alpha_bars_prev[0].item() == 1.0
    torch.testing.assert_close(s.alpha_bars_prev[1:], s.alpha_bars[:-1])
    torch.testing.assert_close(
        s.posterior_variance, s.betas * (1 - s.alpha_bars_prev) / (1 - s.alpha_bars)
    )
    torch.testing.assert_close(s.snr, s.alpha_bars / (1 - s.alpha_bars))
    torch.testing.assert_close(s.log_snr, torch.log(s.snr))
    assert s.posterior_variance[0].item() == 0.0, "x0 is known exactly after the last reverse step"


def test_linear_schedule_has_ho_et_al_endpoints(linear_schedule):
    assert linear_schedule.betas[0].item() == pytest.approx(1e-4)
    assert linear_schedule.betas[-1].item() == pytest.approx(0.02)
    assert linear_schedule.kind == "linear"


def test_scaled_linear_schedule_with_50_steps_still_reaches_noise():
    scaled = NoiseSchedule.linear(50)
    assert scaled.alpha_bars[-1].item() < 1e-3
    torch.testing.assert_close(
        scaled.betas[[0, -1]], torch.tensor([1e-4 * 20, 0.02 * 20], dtype=torch.float64)
    )


def test_unscaled_linear_schedule_with_50_steps_leaves_much_signal():
    unscaled = NoiseSchedule.linear(50, scale_to_num_steps=False)
    assert unscaled.alpha_bars[-1].item() == pytest.approx(0.6, abs=0.02)


def test_scaling_leaves_the_1000_step_linear_schedule_unchanged(linear_schedule):
    torch.testing.assert_close(
        NoiseSchedule.linear(1000, scale_to_num_steps=False).betas, linear_schedule.betas
    )


def test_scaled_betas_are_capped_below_one():
    s = NoiseSchedule.linear(10)  # beta_end * 100 = 2 would be outside (0, 1)
    assert s.betas.max().item() == pytest.approx(0.999)


def test_cosine_schedule_follows_nichol_and_dhariwal_eq_17(cosine_schedule):
    def f(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (0, 10, 500, 900):  # betas are clipped only at the very end
        assert cosine_schedule.alpha_bars[t].item() == pytest.approx(
            f((t + 1) / 1000) / f(0), rel=1e-9
        )
    assert cosine_schedule.betas.max().item() == pytest.approx(0.999)


def test_sigmoid_schedule_follows_chen_2023_algorithm_1():
    s = NoiseSchedule.sigmoid(1000)  # start -3, end 3, tau 1

    def alpha_bar(u: float) -> float:
        sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
        return (sig(3) - sig(u * 6 - 3)) / (sig(3) - sig(-3))

    for t in (0, 10, 500, 900):
        assert s.alpha_bars[t].item() == pytest.approx(alpha_bar((t + 1) / 1000), rel=1e-9)


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_from_name_builds_each_built_in_schedule(kind):
    s = NoiseSchedule.from_name(kind, 100)
    assert s.kind == kind and s.num_steps == 100
    torch.testing.assert_close(s.betas, getattr(NoiseSchedule, kind)(100).betas, rtol=0, atol=0)


def test_schedules_compare_by_value_without_error():
    assert NoiseSchedule.linear(100) == NoiseSchedule.linear(100)
    assert NoiseSchedule.linear(100) != NoiseSchedule.cosine(100)
    assert NoiseSchedule.linear(100) != NoiseSchedule.linear(50)


def test_schedule_is_frozen(linear_schedule):
    with pytest.raises(dataclasses.FrozenInstanceError):
        linear_schedule.betas = torch.zeros(3)  # type: ignore[misc]


def test_repr_names_kind_steps_and_final_alpha_bar(linear_schedule):
    text = repr(linear_schedule)
    assert "linear" in text and "num_steps=1000" in text and "alpha_bar[T-1]" in text


def test_gather_at_picks_per_example_values_shaped_to_broadcast(linear_schedule):
    x = torch.zeros(3, 1, 4, 4, dtype=torch.float32)
    t = torch.tensor([0, 500, 999])
    picked = gather_at(linear_schedule.alpha_bars, t, like=x)
    assert picked.shape == (3, 1, 1, 1) and picked.dtype == torch.float32
    torch.testing.assert_close(picked.flatten(), linear_schedule.alpha_bars[t].float())
    assert gather_at(linear_schedule.betas, t, like=torch.zeros(3, 2)).shape == (3, 1)


def test_check_steps_accepts_every_valid_step(linear_schedule):
    linear_schedule.check_steps(torch.arange(1000), batch_size=1000)
    linear_schedule.check_steps(torch.zeros(0, dtype=torch.long))


# ---------------------------------------------------------------------------- reference: diffusers
def test_linear_schedule_matches_diffusers(linear_schedule):
    ref = DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        clip_sample=False,
    )
    torch.testing.assert_close(linear_schedule.betas, ref.betas.double(), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(
        linear_schedule.alpha_bars, ref.alphas_cumprod.double(), rtol=1e-3, atol=0
    )


def test_cosine_schedule_matches_diffusers_squaredcos_cap_v2(cosine_schedule):
    ref = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False
    )
    torch.testing.assert_close(cosine_schedule.betas, ref.betas.double(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(
        cosine_schedule.alpha_bars, ref.alphas_cumprod.double(), rtol=1e-3, atol=0
    )
