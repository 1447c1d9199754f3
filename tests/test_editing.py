"""Editing: SDEdit's ends, inpainting's kept pixels, and inversion's exact limit on Gaussian data."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from ddpm_tutorial.editing import (
    check_mask,
    ddim_inversion_step,
    half_mask,
    img2img,
    inpaint,
    inversion_error,
    invert,
    reconstruct,
    sdedit_grid,
)
from ddpm_tutorial.flow_matching import FlowMatching, sample_flow
from ddpm_tutorial.reverse_process import ddim_step, sample_ddim
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.scores import GaussianMixture, MixtureNoisePredictor

SCHEDULE = NoiseSchedule.linear(num_steps=100)
FLOW = FlowMatching()
MEAN, VAR = torch.tensor([0.5, -0.3], dtype=torch.float64), 0.04


def _noise_model(x_t: Tensor, t: Tensor, cond: object = None) -> Tensor:
    """A smooth stand-in for a noise predictor: depends on x_t and t, nothing learnt."""
    return 0.3 * torch.tanh(x_t) * (1 + t.float().view(-1, *[1] * (x_t.ndim - 1)) / 100)


def _velocity_model(x_t: Tensor, s: Tensor, cond: object = None) -> Tensor:
    return 0.5 * x_t - 0.2 * torch.sin(x_t) * (s.float().view(-1, *[1] * (x_t.ndim - 1)) / 1000)


class GaussianVelocity:
    """The exact velocity ``E[noise - x0 | x_t]`` of ``N(MEAN, VAR I)`` data on the straight path."""

    def __call__(self, x_t: Tensor, s: Tensor, cond: object = None) -> Tensor:
        t = (s / FLOW.time_scale).to(x_t.dtype)[:, None]
        a = 1 - t  # x_t = a x0 + t noise
        x0 = MEAN + a * VAR / (a * a * VAR + t * t) * (x_t - a * MEAN)
        noise = torch.where(t > 0, (x_t - a * x0) / t.clamp(min=1e-12), torch.zeros_like(x_t))
        return noise - x0


def _images(seed: int = 0, B: int = 3) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 1, 8, 8, generator=g) * 2 - 1


def _gaussian_points(n: int = 64) -> Tensor:
    mix = GaussianMixture.create([MEAN.tolist()], VAR)
    return mix.sample(n, generator=torch.Generator().manual_seed(0))[0].double()


@pytest.mark.parametrize("path, model", [(SCHEDULE, _noise_model), (FLOW, _velocity_model)])
def test_strength_zero_returns_the_input_exactly(path, model):
    x = _images()
    out = img2img(model, path, x, 0.0, num_steps=10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, x) and out is not x


def test_strength_one_is_plain_ddim_sampling_from_the_same_noise():
    x, noise = _images(), torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    out = img2img(_noise_model, SCHEDULE, x, 1.0, num_steps=10, noise=noise)
    expected = sample_ddim(_noise_model, SCHEDULE, x.shape, num_steps=10, x_T=noise)
    assert torch.equal(out, expected)


def test_strength_one_is_plain_euler_sampling_from_the_same_noise():
    x, noise = _images(), torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    out = img2img(_velocity_model, FLOW, x, 1.0, num_steps=10, noise=noise)
    expected = sample_flow(_velocity_model, FLOW, x.shape, num_steps=10, x_T=noise)
    assert torch.equal(out, expected)


def test_sdedit_starts_at_the_strength_and_visits_the_grid_below_it():
    assert sdedit_grid(SCHEDULE, 0.5, 10) == [50, 44, 33, 22, 11, 0]
    assert sdedit_grid(SCHEDULE, 1.0, 10) == [99, 88, 77, 66, 55, 44, 33, 22, 11, 0]
    assert sdedit_grid(FLOW, 0.45, 10) == pytest.approx([0.45, 0.4, 0.3, 0.2, 0.1, 0.0])
    assert sdedit_grid(FLOW, 0.5, 10) == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.1, 0.0])


def test_sdedit_first_step_is_a_ddim_step_from_the_forward_process_sample():
    x, noise = _images(), torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    out = img2img(_noise_model, SCHEDULE, x, 0.01, num_steps=10, noise=noise)  # start step 1
    ab = SCHEDULE.alpha_bars[1]
    x_1 = ab.sqrt() * x + (1 - ab).sqrt() * noise
    t = torch.full((3,), 1)
    step1, _ = ddim_step(x_1, 1, 0, _noise_model(x_1, t), SCHEDULE)
    expected, _ = ddim_step(
        step1, 0, -1, _noise_model(step1, torch.zeros(3, dtype=torch.long)), SCHEDULE
    )
    torch.testing.assert_close(out, expected)


def test_a_small_strength_stays_closer_to_the_input_than_a_large_one():
    x = _gaussian_points()
    model = MixtureNoisePredictor(GaussianMixture.create([[0.0, 0.0]], 1.0), SCHEDULE)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    dist = [
        (img2img(model, SCHEDULE, x, s, num_steps=20, noise=noise) - x).norm()
        for s in (0.1, 0.5, 0.9)
    ]
    assert dist[0] < dist[1] < dist[2]


@pytest.mark.parametrize("path, model", [(SCHEDULE, _noise_model), (FLOW, _velocity_model)])
@pytest.mark.parametrize("resample", [1, 3])
def test_inpainting_keeps_the_masked_in_pixels_exactly(path, model, resample):
    x = _images()
    mask = half_mask("top", 8)
    out = inpaint(
        model,
        path,
        x,
        mask,
        num_steps=5,
        resample=resample,
        generator=torch.Generator().manual_seed(0),
    )
    keep = mask.expand_as(x).bool()
    assert torch.equal(out[keep], x[keep])
    assert not torch.allclose(out[~keep], x[~keep])


def test_inpainting_with_an_all_ones_mask_returns_the_input_and_calls_the_model_u_n_minus_1_plus_1_times():
    calls = []

    def counting(x_t, t, cond=None):
        calls.append(int(t[0]))
        return _noise_model(x_t, t)

    x = _images()
    out = inpaint(counting, SCHEDULE, x, torch.ones(1, 1, 8, 8), num_steps=5, resample=3)
    assert torch.equal(out, x)
    assert len(calls) == 3 * (5 - 1) + 1
    assert calls[:3] == [99, 99, 99] and calls[-1] == 0


def test_inpainting_takes_one_mask_per_image():
    x = _images()
    mask = torch.cat([half_mask("left", 8), half_mask("right", 8), torch.zeros(1, 1, 8, 8)])
    out = inpaint(_velocity_model, FLOW, x, mask, num_steps=4)
    assert torch.equal(out[0, :, :, :4], x[0, :, :, :4]) and torch.equal(
        out[1, :, :, 4:], x[1, :, :, 4:]
    )


@pytest.mark.parametrize(
    "mask, message",
    [
        (torch.ones(1, 8, 8), r"mask must have shape \(3 or 1, 1, 8, 8\) .* got \(1, 8, 8\)"),
        (torch.ones(2, 1, 8, 8), r"got \(2, 1, 8, 8\)"),
        (torch.ones(1, 1, 4, 4), r"got \(1, 1, 4, 4\)"),
        (
            torch.full((1, 1, 8, 8), 0.5),
            r"mask values must be 0 \(generate\) or 1 \(keep\); got \[0\.5\]",
        ),
        (torch.full((1, 1, 8, 8), 255.0), r"got \[255\.0\]"),
    ],
)
def test_a_wrong_mask_is_refused_in_one_line_naming_it(mask, message):
    with pytest.raises(ValueError, match=message) as err:
        inpaint(_noise_model, SCHEDULE, _images(), mask, num_steps=3)
    assert "\n" not in str(err.value)


def test_images_without_channels_and_bad_settings_are_refused_naming_the_value():
    with pytest.raises(ValueError, match=r"images must have shape \(B, C, H, W\) .* got \(3, 8\)"):
        check_mask(torch.ones(1, 1, 8, 8), torch.zeros(3, 8))
    with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]; got 1.5"):
        img2img(_noise_model, SCHEDULE, _images(), 1.5)
    with pytest.raises(ValueError, match=r"resample must be an int >= 1; got 0"):
        inpaint(_noise_model, SCHEDULE, _images(), half_mask("top", 8), resample=0)
    with pytest.raises(TypeError, match=r"NoiseSchedule .* or a FlowMatching path .* got str"):
        invert(_noise_model, "linear", _images())  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"noise shape \(1, 1, 8, 8\) != images shape \(3, 1, 8, 8\)"
    ):
        img2img(_noise_model, SCHEDULE, _images(), 0.5, noise=torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="unknown half 'middle'"):
        half_mask("middle")  # type: ignore[arg-type]


def test_half_masks_keep_the_named_half():
    assert half_mask("top", 4)[0, 0].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [0] * 4, [0] * 4]
    assert half_mask("right", 4)[0, 0, 0].tolist() == [0, 0, 1, 1]
    assert half_mask("bottom", 28).sum() == 14 * 28


def test_an_inversion_step_and_a_ddim_step_undo_each_other_when_the_noise_prediction_is_fixed():
    x = _images()
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
    up = ddim_inversion_step(x, 20, 60, eps, SCHEDULE)
    down, _ = ddim_step(up, 60, 20, eps, SCHEDULE)
    torch.testing.assert_close(down, x)
    torch.testing.assert_close(
        ddim_inversion_step(x, -1, 0, eps, SCHEDULE),
        SCHEDULE.alpha_bars[0].sqrt() * x + (1 - SCHEDULE.alpha_bars[0]).sqrt() * eps,
    )


def test_inversion_error_of_the_exact_noise_predictor_shrinks_with_steps_to_near_zero():
    schedule = NoiseSchedule.linear(num_steps=1000)
    model = MixtureNoisePredictor(GaussianMixture.create([MEAN.tolist()], VAR), schedule)
    x = _gaussian_points()
    errors = [
        float(inversion_error(model, schedule, x, num_steps=n).mean()) for n in (5, 20, 100, 1000)
    ]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 0.01 < errors[0], errors


def test_inversion_error_of_the_exact_velocity_shrinks_with_steps_to_near_zero():
    x = _gaussian_points()
    errors = [
        float(inversion_error(GaussianVelocity(), FLOW, x, num_steps=n).mean())
        for n in (5, 20, 100, 1000)
    ]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 0.002 < 0.05 < errors[0], errors


def test_inverted_gaussian_data_looks_like_standard_normal_noise():
    schedule = NoiseSchedule.linear(num_steps=1000)
    model = MixtureNoisePredictor(GaussianMixture.create([MEAN.tolist()], VAR), schedule)
    x = (
        GaussianMixture.create([MEAN.tolist()], VAR)
        .sample(4000, generator=torch.Generator().manual_seed(1))[0]
        .double()
    )
    for path, m in ((schedule, model), (FLOW, GaussianVelocity())):
        z = invert(m, path, x, num_steps=200)
        assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05


def test_reconstruct_samples_from_the_latents_on_the_same_grid():
    z = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    out = reconstruct(_noise_model, SCHEDULE, z, num_steps=7)
    assert torch.equal(out, sample_ddim(_noise_model, SCHEDULE, z.shape, num_steps=7, x_T=z))
    flow_out = reconstruct(_velocity_model, FLOW, z, num_steps=7)
    assert torch.equal(flow_out, sample_flow(_velocity_model, FLOW, z.shape, num_steps=7, x_T=z))


def test_invert_calls_the_network_n_times_starting_at_step_zero():
    steps = []

    def counting(x_t, t, cond=None):
        steps.append(int(t[0]))
        return _noise_model(x_t, t)

    invert(counting, SCHEDULE, _images(), num_steps=4)
    assert steps == [0, 0, 33, 66]


def test_a_condition_reaches_the_model_and_guidance_mixes_its_two_answers():
    seen = []

    def conditional(x_t, t, cond=None):
        seen.append(cond)
        return _noise_model(x_t, t) + (0.0 if cond is None else 0.1)

    x = _images()
    img2img(conditional, SCHEDULE, x, 0.3, num_steps=5, cond="a 3", guidance_scale=2.0)
    assert "a 3" in seen and None in seen
    seen.clear()
    invert(conditional, SCHEDULE, x, num_steps=3, cond="a 3")
    assert seen == ["a 3"] * 3
