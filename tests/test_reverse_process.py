"""The reverse process: one step against the math and against diffusers, whole samplers against
a denoiser whose optimum is known in closed form."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from ddpm_tutorial.forward_process import posterior_mean_variance
from ddpm_tutorial.parameterizations import v_from_x0_noise, x0_from_noise
from ddpm_tutorial.reverse_process import (
    Trajectory,
    at_precision,
    ddim_step,
    ddim_timesteps,
    ddpm_step,
    dynamic_threshold_x0,
    guided_noise,
    sample_ddim,
    sample_ddpm,
)
from ddpm_tutorial.schedules import NoiseSchedule, gather_at

MU = torch.tensor([1.0, -0.5])
SD = 0.5


def gaussian_denoiser(schedule: NoiseSchedule, mu: torch.Tensor = MU, sd: float = SD):
    """The optimal noise predictor for data x0 ~ N(mu, sd^2 I).

    E[noise | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) mu) / (ab sd^2 + 1 - ab).
    """

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = gather_at(schedule.alpha_bars, t, like=x_t)
        return (1 - ab).sqrt() * (x_t - ab.sqrt() * mu.to(x_t.dtype)) / (ab * sd**2 + 1 - ab)

    return model


def _t(step: int, n: int) -> torch.Tensor:
    return torch.full((n,), step, dtype=torch.long)


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- one DDPM step
@pytest.mark.parametrize("step", [999, 500, 1])
def test_ddpm_mean_equals_the_posterior_mean_at_the_predicted_x0(linear_schedule, step):
    x_t, eps = _random(3, 1, 4, 4, seed=1), _random(3, 1, 4, 4, seed=2)
    mean, x0_pred = ddpm_step(x_t, step, eps, linear_schedule, noise=torch.zeros_like(x_t))
    torch.testing.assert_close(x0_pred, x0_from_noise(x_t, _t(step, 3), eps, linear_schedule))
    posterior_mean, _ = posterior_mean_variance(x0_pred, x_t, _t(step, 3), linear_schedule)
    torch.testing.assert_close(mean, posterior_mean, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_ddpm_step_adds_sigma_times_the_given_noise(linear_schedule, variance):
    step = 300
    x_t, eps, z = _random(2, 5, seed=3), _random(2, 5, seed=4), _random(2, 5, seed=5)
    mean, _ = ddpm_step(
        x_t, step, eps, linear_schedule, variance=variance, noise=torch.zeros_like(z)
    )
    x_prev, _ = ddpm_step(x_t, step, eps, linear_schedule, variance=variance, noise=z)
    table = linear_schedule.betas if variance == "beta" else linear_schedule.posterior_variance
    torch.testing.assert_close(x_prev - mean, math.sqrt(table[step].item()) * z)


def test_ddpm_last_step_adds_no_noise(linear_schedule):
    x_t, eps = _random(2, 3, seed=6), _random(2, 3, seed=7)
    a, _ = ddpm_step(x_t, 0, eps, linear_schedule, generator=torch.Generator().manual_seed(0))
    b, _ = ddpm_step(x_t, 0, eps, linear_schedule, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_ddpm_step_with_clipping_uses_the_posterior_mean_of_the_clipped_x0(linear_schedule):
    step = 900
    x_t, eps = _random(2, 1, 3, 3, seed=8) * 3, _random(2, 1, 3, 3, seed=9)
    mean, x0_pred = ddpm_step(
        x_t, step, eps, linear_schedule, clip_x0=True, noise=torch.zeros_like(x_t)
    )
    assert x0_pred.abs().max().item() <= 1.0
    torch.testing.assert_close(
        mean, posterior_mean_variance(x0_pred, x_t, _t(step, 2), linear_schedule)[0]
    )


# ---------------------------------------------------------------------------- one DDIM step
def test_ddim_eta_one_over_consecutive_steps_is_ddpm_with_posterior_variance(linear_schedule):
    x_t, eps, z = _random(4, 3, seed=10), _random(4, 3, seed=11), _random(4, 3, seed=12)
    for step in (999, 400, 2):
        ddim, _ = ddim_step(x_t, step, step - 1, eps, linear_schedule, eta=1.0, noise=z)
        ddpm, _ = ddpm_step(x_t, step, eps, linear_schedule, variance="posterior", noise=z)
        torch.testing.assert_close(ddim, ddpm, rtol=1e-4, atol=1e-5)


def test_ddim_eta_zero_ignores_the_generator_and_the_noise(linear_schedule):
    x_t, eps = _random(2, 3, seed=13), _random(2, 3, seed=14)
    a, _ = ddim_step(
        x_t, 500, 480, eps, linear_schedule, eta=0.0, generator=torch.Generator().manual_seed(0)
    )
    b, _ = ddim_step(x_t, 500, 480, eps, linear_schedule, eta=0.0, noise=torch.full_like(x_t, 9.0))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_ddim_with_the_true_noise_lands_exactly_on_the_forward_process(linear_schedule):
    """If eps_pred is the noise in x_t, an eta = 0 step gives sqrt(ab_prev) x0 + sqrt(1 - ab_prev) noise."""
    x0, noise = _random(3, 4, seed=15), _random(3, 4, seed=16)
    ab_t, ab_prev = linear_schedule.alpha_bars[700].item(), linear_schedule.alpha_bars[350].item()
    x_t = math.sqrt(ab_t) * x0 + math.sqrt(1 - ab_t) * noise
    x_prev, x0_pred = ddim_step(x_t, 700, 350, noise, linear_schedule)
    torch.testing.assert_close(x0_pred, x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(
        x_prev, math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * noise, rtol=1e-4, atol=1e-4
    )
    final, _ = ddim_step(x_t, 700, -1, noise, linear_schedule)
    torch.testing.assert_close(final, x0, rtol=1e-4, atol=1e-4)


def test_ddim_timesteps_start_at_pure_noise_end_at_zero_and_decrease():
    steps = ddim_timesteps(1000, 50)
    assert len(steps) == 50 and steps[0] == 999 and steps[-1] == 0
    assert all(a > b for a, b in zip(steps, steps[1:]))
    assert ddim_timesteps(1000, 1) == [999]
    assert ddim_timesteps(20, 20) == list(range(19, -1, -1))


# ---------------------------------------------------------------------------- reference: diffusers
def _diffusers_ddpm(variance_type: str) -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        variance_type=variance_type,
        clip_sample=False,
    )


@pytest.mark.parametrize(
    "variance, variance_type", [("beta", "fixed_large"), ("posterior", "fixed_small")]
)
@pytest.mark.parametrize("step", [999, 500, 10, 1, 0])
def test_ddpm_step_matches_diffusers(linear_schedule, variance, variance_type, step):
    ref = _diffusers_ddpm(variance_type)
    x_t, eps = _random(2, 1, 4, 4, seed=20), _random(2, 1, 4, 4, seed=21)
    out = ref.step(eps, step, x_t, generator=torch.Generator().manual_seed(5))
    z = torch.randn(
        x_t.shape, generator=torch.Generator().manual_seed(5)
    )  # the noise diffusers drew
    x_prev, x0_pred = ddpm_step(x_t, step, eps, linear_schedule, variance=variance, noise=z)
    torch.testing.assert_close(x0_pred, out.pred_original_sample, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(x_prev, out.prev_sample, rtol=1e-3, atol=1e-4)
    if step > 0:
        table = linear_schedule.betas if variance == "beta" else linear_schedule.posterior_variance
        assert table[step].item() == pytest.approx(ref._get_variance(step).item(), rel=1e-3)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("step, prev_step", [(999, 979), (500, 480), (980, 780), (19, -1), (9, -1)])
def test_ddim_step_matches_diffusers(linear_schedule, eta, step, prev_step):
    ref = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        clip_sample=False,
        set_alpha_to_one=True,
    )
    gap = step - prev_step if prev_step >= 0 else step + 1  # to -1: diffusers then uses ab_prev = 1
    ref.set_timesteps(1000 // gap)  # diffusers' previous step is step - T // num_inference_steps
    x_t, eps, z = (
        _random(2, 1, 4, 4, seed=22),
        _random(2, 1, 4, 4, seed=23),
        _random(2, 1, 4, 4, seed=24),
    )
    out = ref.step(eps, step, x_t, eta=eta, variance_noise=z)
    x_prev, x0_pred = ddim_step(x_t, step, prev_step, eps, linear_schedule, eta=eta, noise=z)
    torch.testing.assert_close(x0_pred, out.pred_original_sample, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(x_prev, out.prev_sample, rtol=1e-3, atol=1e-4)


def test_ddim_timesteps_match_diffusers_linspace_spacing():
    ref = DDIMScheduler(num_train_timesteps=1000, timestep_spacing="linspace")
    for n in (10, 50, 250):
        ref.set_timesteps(n)
        assert ddim_timesteps(1000, n) == ref.timesteps.tolist()


# ---------------------------------------------------------------------------- whole samplers
# With the optimal denoiser for Gaussian data, a sampler's output law is known exactly up to
# discretisation: for T = 200 (cosine) the exact output sd is 0.502 (ddpm, beta), 0.491 (ddpm,
# posterior), 0.485 (ddim 50 steps, eta 0) and 0.467 (ddim 50, eta 1) for sd 0.5, the rest is
# sampling error (sd / sqrt(2n) = 0.004 for 2 x 4000 values).
@pytest.mark.parametrize(
    "sampler, kwargs, sd_tol",
    [
        (sample_ddpm, {"variance": "beta"}, 0.03),
        (sample_ddpm, {"variance": "posterior"}, 0.03),
        (sample_ddim, {"num_steps": 50, "eta": 0.0}, 0.04),
        (sample_ddim, {"num_steps": 50, "eta": 1.0}, 0.055),
    ],
    ids=["ddpm-beta", "ddpm-posterior", "ddim-eta0", "ddim-eta1"],
)
def test_samplers_with_the_optimal_denoiser_reproduce_gaussian_data(
    short_schedule, sampler, kwargs, sd_tol
):
    n = 4000
    x = sampler(
        gaussian_denoiser(short_schedule),
        short_schedule,
        (n, 2),
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    assert x.shape == (n, 2) and bool(torch.isfinite(x).all())
    torch.testing.assert_close(x.mean(0), MU, rtol=0, atol=5 * SD / math.sqrt(n))
    torch.testing.assert_close(x.std(0), torch.full((2,), SD), rtol=0, atol=sd_tol)


def test_ddim_with_eta_zero_is_a_deterministic_map_from_x_T(short_schedule):
    x_T = _random(16, 2, seed=30)
    model = gaussian_denoiser(short_schedule)
    a = sample_ddim(
        model,
        short_schedule,
        (16, 2),
        num_steps=20,
        x_T=x_T,
        generator=torch.Generator().manual_seed(1),
    )
    b = sample_ddim(
        model,
        short_schedule,
        (16, 2),
        num_steps=20,
        x_T=x_T,
        generator=torch.Generator().manual_seed(2),
    )
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = sample_ddim(
        model,
        short_schedule,
        (16, 2),
        num_steps=20,
        eta=1.0,
        x_T=x_T,
        generator=torch.Generator().manual_seed(2),
    )
    assert not torch.equal(a, c)


@pytest.mark.parametrize(
    "sampler, kwargs", [(sample_ddpm, {}), (sample_ddim, {"num_steps": 10, "eta": 0.5})]
)
def test_the_same_seed_gives_the_same_samples_and_another_seed_others(
    tiny_schedule, sampler, kwargs
):
    model = gaussian_denoiser(tiny_schedule)

    def draw(seed: int) -> torch.Tensor:
        return sampler(
            model, tiny_schedule, (8, 2), generator=torch.Generator().manual_seed(seed), **kwargs
        )

    torch.testing.assert_close(draw(3), draw(3), rtol=0, atol=0)
    assert not torch.allclose(draw(3), draw(4))


def test_samplers_never_clip_unless_asked(tiny_schedule):
    def zero(x_t, t):  # predicts no noise: x0_pred = x_t / sqrt(ab), far outside [-1, 1]
        return torch.zeros_like(x_t)

    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    free = sample_ddim(zero, tiny_schedule, (64, 2), num_steps=5, generator=g())
    clipped = sample_ddim(zero, tiny_schedule, (64, 2), num_steps=5, clip_x0=True, generator=g())
    thresholded = sample_ddpm(zero, tiny_schedule, (64, 2), dynamic_threshold=0.9, generator=g())
    assert free.abs().max().item() > 1.5
    assert clipped.abs().max().item() <= 1.0
    assert thresholded.abs().max().item() <= 1.0 + 1e-6


def test_trajectory_records_every_kth_step_plus_first_last_and_final(tiny_schedule):
    model = gaussian_denoiser(tiny_schedule)
    x0, traj = sample_ddpm(
        model,
        tiny_schedule,
        (3, 2),
        return_trajectory=True,
        trajectory_every=6,
        generator=torch.Generator().manual_seed(0),
    )
    assert isinstance(traj, Trajectory)
    assert traj.steps == [19, 13, 7, 1, 0, -1]
    assert traj.x_t.shape == traj.x0_pred.shape == (6, 3, 2)
    torch.testing.assert_close(traj.x_t[-1], x0)
    x0, traj = sample_ddim(
        model,
        tiny_schedule,
        (3, 2),
        num_steps=5,
        return_trajectory=True,
        generator=torch.Generator().manual_seed(0),
    )
    assert traj.steps == [*ddim_timesteps(20, 5), -1]


def test_samplers_draw_the_start_from_x_T_when_given(tiny_schedule):
    x_T = _random(4, 2, seed=31)
    _, traj = sample_ddim(
        gaussian_denoiser(tiny_schedule),
        tiny_schedule,
        (4, 2),
        num_steps=4,
        x_T=x_T,
        return_trajectory=True,
    )
    torch.testing.assert_close(traj.x_t[0], x_T, rtol=0, atol=0)


# ---------------------------------------------------------------------------- precision
def test_at_precision_fp32_is_the_model_itself():
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    assert at_precision(model, "fp32", "cpu") is model


def test_at_precision_bf16_runs_the_network_under_autocast_and_returns_float32():
    seen = []

    def model(x_t, t):
        seen.append(torch.is_autocast_enabled("cpu"))
        return torch.nn.functional.conv2d(x_t, torch.ones(1, 1, 1, 1))

    out = at_precision(model, "bf16", "cpu")(_random(2, 1, 4, 4), _t(3, 2))
    assert seen == [True] and out.dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")  # the context is left on return


def test_an_unknown_precision_is_refused_before_sampling(tiny_schedule):
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        sample_ddim(
            gaussian_denoiser(tiny_schedule), tiny_schedule, (2, 2), num_steps=4, precision="fp8"
        )


@pytest.mark.parametrize("sampler", [sample_ddpm, sample_ddim])
def test_bf16_sampling_rounds_only_the_network(make_tiny_unet, sampler):
    """fp32 (the default) is bit-for-bit the old sampler; bf16 stays close on a UNet."""
    schedule = NoiseSchedule.linear(20)
    model = make_tiny_unet()
    steps = {} if sampler is sample_ddpm else {"num_steps": 10}

    def draw(**kw):
        return sampler(
            model,
            schedule,
            (3, 1, 28, 28),
            generator=torch.Generator().manual_seed(4),
            **steps,
            **kw,
        )

    default, fp32, bf16 = draw(), draw(precision="fp32"), draw(precision="bf16")
    assert torch.equal(default, fp32)
    assert bf16.dtype == torch.float32 and bool(torch.isfinite(bf16).all())
    assert not torch.equal(bf16, fp32)  # the network did run in bfloat16
    scale = fp32.abs().mean()
    assert (bf16 - fp32).abs().mean() < 0.05 * scale


# ---------------------------------------------------------------------------- guidance
def _two_headed_model():
    """eps = 1 with a condition, -2 without: guidance is then easy to read."""
    calls = []

    def model(x_t, t, cond=None):
        calls.append(cond)
        return torch.full_like(x_t, -2.0) if cond is None else torch.ones_like(x_t)

    return model, calls


@pytest.mark.parametrize(
    "w, expected", [(1.0, 1.0), (0.0, -2.0), (3.0, -2.0 + 3.0 * 3.0), (0.5, -0.5)]
)
def test_guided_noise_is_uncond_plus_w_times_cond_minus_uncond(w, expected):
    model, _ = _two_headed_model()
    eps = guided_noise(
        model,
        torch.zeros(2, 3),
        torch.zeros(2, dtype=torch.long),
        cond=torch.ones(2),
        guidance_scale=w,
    )
    torch.testing.assert_close(eps, torch.full((2, 3), expected))


def test_guidance_scale_one_calls_only_the_conditional_model():
    model, calls = _two_headed_model()
    guided_noise(
        model,
        torch.zeros(2, 3),
        torch.zeros(2, dtype=torch.long),
        cond=torch.ones(2),
        guidance_scale=1.0,
    )
    assert len(calls) == 1 and calls[0] is not None


def test_an_unconditional_model_is_called_without_a_condition():
    model, calls = _two_headed_model()
    eps = guided_noise(model, torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(eps, torch.full((2, 3), -2.0))
    assert calls == [None]


def test_dynamic_thresholding_leaves_images_in_range_alone_and_rescales_others():
    inside = torch.rand(2, 1, 4, 4) * 2 - 1
    torch.testing.assert_close(dynamic_threshold_x0(inside), inside)
    big = torch.linspace(-4, 4, 2 * 16).reshape(2, 1, 4, 4)
    out = dynamic_threshold_x0(big, percentile=1.0)
    assert out.abs().max().item() == pytest.approx(1.0)
    torch.testing.assert_close(
        out[0] * big[0].abs().max(), big[0]
    )  # divided by the max: shape kept


# ---------------------------------------------------------------------------- prediction types
def _as_prediction(eps_model, schedule: NoiseSchedule, prediction: str):
    """The optimal denoiser rewritten to predict x0 or v instead of the noise."""

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = eps_model(x_t, t)
        x0 = x0_from_noise(x_t, t, eps, schedule)
        return x0 if prediction == "x0" else v_from_x0_noise(x0, eps, t, schedule)

    return model


@pytest.mark.parametrize("prediction", ["x0", "v"])
@pytest.mark.parametrize(
    "sampler, kwargs",
    [
        (sample_ddpm, {}),
        (sample_ddim, {"num_steps": 20}),
        (sample_ddim, {"num_steps": 20, "eta": 1.0}),
    ],
    ids=["ddpm", "ddim", "ddim-eta1"],
)
def test_a_network_that_predicts_x0_or_v_samples_as_its_noise_predicting_twin(
    short_schedule, sampler, kwargs, prediction
):
    eps_model = gaussian_denoiser(short_schedule)
    twin = _as_prediction(eps_model, short_schedule, prediction)
    x_T = _random(64, 2, seed=5)
    expected = sampler(
        eps_model,
        short_schedule,
        (64, 2),
        x_T=x_T,
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    actual = sampler(
        twin,
        short_schedule,
        (64, 2),
        x_T=x_T,
        prediction=prediction,
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_an_unknown_prediction_is_refused_before_sampling(tiny_schedule):
    with pytest.raises(ValueError, match="unknown prediction 'score'; choose one of eps, x0, v"):
        sample_ddim(gaussian_denoiser(tiny_schedule), tiny_schedule, (2, 2), prediction="score")
