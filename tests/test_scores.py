"""Scores: conversions, the closed-form mixture, Langevin dynamics and the SDE view of DDPM."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.parameterizations import noise_from_x0, v_from_x0_noise, x0_from_noise
from ddpm_tutorial.reverse_process import ddim_timesteps, ddpm_step, sample_ddim
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.scores import (
    GaussianMixture,
    MixtureNoisePredictor,
    annealed_langevin_dynamics,
    langevin_dynamics,
    noise_from_score,
    probability_flow_drift,
    reverse_sde_drift,
    score_from_noise,
    score_from_output,
    score_from_v,
    score_from_x0,
    v_from_score,
    x0_from_score,
)

T = 1000


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule.linear(T)


@pytest.fixture(scope="module")
def mixture() -> GaussianMixture:
    """Three separated modes with unequal weights; classes 0, 1, 1."""
    return GaussianMixture.create(
        [[0.0, 2.0], [-1.7, -1.0], [1.7, -1.0]], 0.15**2, [0.6, 0.3, 0.1], classes=[0, 1, 1]
    )


def _batch(seed: int, shape=(5, 1, 4, 4)):
    g = torch.Generator().manual_seed(seed)
    x0, noise = torch.randn(2, *shape, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 250, 700, 999])
    return x0, noise, t


# ---------------------------------------------------------------------------- conversions
def test_score_of_the_true_noise_is_the_score_of_the_forward_kernel(schedule):
    x0, noise, t = _batch(0)
    ab = schedule.alpha_bars[t].reshape(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    kernel_score = -(x_t - ab.sqrt() * x0) / (1 - ab)  # grad log N(x_t; sqrt(ab) x0, (1-ab) I)
    torch.testing.assert_close(score_from_noise(noise, t, schedule), kernel_score)
    torch.testing.assert_close(score_from_x0(x_t, t, x0, schedule), kernel_score)


def test_noise_and_score_conversions_invert_each_other(schedule):
    _, noise, t = _batch(1)
    score = score_from_noise(noise, t, schedule)
    torch.testing.assert_close(noise_from_score(score, t, schedule), noise)


def test_x0_and_score_conversions_invert_each_other(schedule):
    x0, noise, t = _batch(2)
    x_t = x0 * schedule.alpha_bars[t].sqrt().reshape(-1, 1, 1, 1) + noise
    score = score_from_x0(x_t, t, x0, schedule)
    torch.testing.assert_close(x0_from_score(x_t, t, score, schedule), x0)


def test_v_and_score_conversions_invert_each_other(schedule):
    x0, noise, t = _batch(3)
    ab = schedule.alpha_bars[t].reshape(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    v = v_from_x0_noise(x0, noise, t, schedule)
    score = score_from_v(x_t, t, v, schedule)
    torch.testing.assert_close(score, score_from_noise(noise, t, schedule))
    torch.testing.assert_close(v_from_score(x_t, t, score, schedule), v)


def test_every_prediction_of_the_same_x_t_gives_the_same_score(schedule):
    x0, noise, t = _batch(4)
    ab = schedule.alpha_bars[t].reshape(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    v = v_from_x0_noise(x0, noise, t, schedule)
    expected = score_from_noise(noise, t, schedule)
    for output, kind in [(noise, "eps"), (x0, "x0"), (v, "v")]:
        torch.testing.assert_close(score_from_output(output, x_t, t, schedule, kind), expected)


def test_tweedie_agrees_with_the_clean_image_of_the_noise_prediction(schedule):
    x0, noise, t = _batch(5)
    x_t = x0 + noise
    score = score_from_noise(noise, t, schedule)
    torch.testing.assert_close(
        x0_from_score(x_t, t, score, schedule), x0_from_noise(x_t, t, noise, schedule)
    )
    torch.testing.assert_close(
        score_from_x0(x_t, t, x0, schedule),
        score_from_noise(noise_from_x0(x_t, t, x0, schedule), t, schedule),
    )


# ---------------------------------------------------------------------------- the mixture
def test_score_of_a_gaussian_matches_autograd_of_its_log_density():
    gaussian = GaussianMixture.create([[0.3, -1.2, 2.0]], 0.7)
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(gaussian.log_prob(x).sum(), x)
    torch.testing.assert_close(gaussian.score(x.detach()), grad)
    torch.testing.assert_close(gaussian.score(x.detach()), -(x.detach() - gaussian.means) / 0.7)


def test_score_of_a_mixture_and_of_each_class_match_autograd(mixture):
    x = 2 * torch.randn(9, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1])
    for cond in (None, y):
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(mixture.log_prob(xr, cond).sum(), xr)
        torch.testing.assert_close(mixture.score(x, cond), grad)


def test_log_density_integrates_to_one_for_the_mixture_and_each_class(mixture):
    side = torch.linspace(-4, 4, 401, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(side, side, indexing="ij"), dim=-1).reshape(-1, 2)
    cell = float(side[1] - side[0]) ** 2
    assert abs(mixture.log_prob(grid).exp().sum().item() * cell - 1) < 1e-3
    for c in (0, 1):
        y = torch.full((grid.shape[0],), c)
        assert abs(mixture.log_prob(grid, y).exp().sum().item() * cell - 1) < 1e-3


def test_class_posterior_is_bayes_rule_and_sums_to_one(mixture):
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    log_p = mixture.class_log_probs(x)
    torch.testing.assert_close(log_p.exp().sum(1), torch.ones(6, dtype=torch.float64))
    resp = mixture.responsibilities(x)
    torch.testing.assert_close(log_p.exp()[:, 1], resp[:, 1] + resp[:, 2])


def test_mixture_noised_to_a_step_is_the_distribution_of_add_noise(mixture, schedule):
    ab = float(schedule.alpha_bars[400])
    x0, _ = mixture.sample(200_000, generator=torch.Generator().manual_seed(3))
    x_t = math.sqrt(ab) * x0.double() + math.sqrt(1 - ab) * torch.randn(
        x0.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    noised = mixture.noised(ab)
    mean = (noised.weights[:, None] * noised.means).sum(0)
    assert torch.allclose(x_t.mean(0), mean, atol=0.01)
    second = (noised.weights * (noised.variances * 2 + (noised.means**2).sum(1))).sum()
    assert abs((x_t**2).sum(1).mean().item() - second.item()) < 0.02


def test_exact_noise_predictor_is_the_posterior_mean_of_the_noise(mixture, schedule):
    """E[noise | x_t] by self-normalised importance sampling over data points."""
    exact = MixtureNoisePredictor(mixture, schedule)
    x0, _ = mixture.sample(400_000, generator=torch.Generator().manual_seed(5))
    x0 = x0.double()
    for step in (300, 600):
        ab = float(schedule.alpha_bars[step])
        x_t = torch.tensor([[0.4, 0.5], [-0.8, -0.2]], dtype=torch.float64)
        t = torch.full((2,), step)
        for i in range(2):
            resid = x_t[i] - math.sqrt(ab) * x0  # (N, 2)
            log_w = -0.5 * (resid**2).sum(1) / (1 - ab)
            w = torch.softmax(log_w, dim=0)
            mc = (w[:, None] * resid / math.sqrt(1 - ab)).sum(0)
            torch.testing.assert_close(exact(x_t, t)[i], mc, atol=0.02, rtol=0)


def test_exact_noise_predictor_gives_each_example_its_own_step(mixture, schedule):
    exact = MixtureNoisePredictor(mixture, schedule)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    t = torch.tensor([10, 500, 990])
    together = exact(x, t)
    for i in range(3):
        noised = mixture.noised(float(schedule.alpha_bars[t[i]]))
        alone = -math.sqrt(1 - float(schedule.alpha_bars[t[i]])) * noised.score(x[i : i + 1])
        torch.testing.assert_close(together[i : i + 1], alone)


def test_exact_classifier_guidance_is_classifier_free_guidance(mixture, schedule):
    """eps_cond - eps_uncond = -sqrt(1 - ab) grad log q_t(y | x_t): Bayes' rule."""
    exact = MixtureNoisePredictor(mixture, schedule)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    t, y = torch.tensor([50, 300, 600, 900]), torch.tensor([0, 1, 1, 0])
    xr = x.clone().requires_grad_(True)
    log_p = exact.class_log_probs(xr, t).gather(1, y[:, None]).sum()
    (grad,) = torch.autograd.grad(log_p, xr)
    sd = (1 - schedule.alpha_bars[t]).sqrt()[:, None]
    torch.testing.assert_close(exact(x, t, y) - exact(x, t), -sd * grad)


# ---------------------------------------------------------------------------- Langevin
def _class_shares(mixture: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    nearest = mixture.responsibilities(x.double()).argmax(1)
    return torch.bincount(nearest, minlength=mixture.num_components).double() / x.shape[0]


def test_langevin_with_the_exact_score_samples_a_single_gaussian():
    gaussian = GaussianMixture.create([[1.0, -2.0]], 0.25)
    start = torch.zeros(4000, 2, dtype=torch.float64)
    x = langevin_dynamics(
        gaussian.score, start, 0.01, 800, generator=torch.Generator().manual_seed(0)
    )
    assert torch.allclose(x.mean(0), gaussian.means[0], atol=0.03)
    # a finite step inflates the variance by about 1 / (1 - step / (4 v)) = 1.01
    assert torch.allclose(x.var(0), torch.full((2,), 0.25, dtype=torch.float64), rtol=0.06)


def test_annealed_langevin_with_the_exact_score_reaches_the_mixture_weights(mixture):
    g = torch.Generator().manual_seed(1)
    start = 8 * torch.rand(3000, 2, generator=g, dtype=torch.float64) - 4
    sigmas = torch.logspace(math.log10(2.0), math.log10(0.05), 10)
    x = annealed_langevin_dynamics(
        lambda y, sigma: mixture.smoothed(sigma).score(y), start, sigmas, 0.002, 60, generator=g
    )
    torch.testing.assert_close(_class_shares(mixture, x), mixture.weights, atol=0.04, rtol=0)
    nearest = mixture.responsibilities(x).argmax(1)
    for k in range(3):
        torch.testing.assert_close(x[nearest == k].mean(0), mixture.means[k], atol=0.05, rtol=0)


def test_langevin_returns_its_whole_path_when_asked():
    gaussian = GaussianMixture.create([[0.0, 0.0]], 1.0)
    g = torch.Generator().manual_seed(2)
    x, path = langevin_dynamics(
        gaussian.score, torch.ones(3, 2), 0.1, 5, generator=g, return_trajectory=True
    )
    assert path.shape == (6, 3, 2)
    torch.testing.assert_close(path[-1], x)
    torch.testing.assert_close(path[0], torch.ones(3, 2))
    _, path = annealed_langevin_dynamics(
        lambda y, s: gaussian.smoothed(s).score(y),
        torch.ones(3, 2),
        [1.0, 0.5],
        0.1,
        4,
        generator=g,
        return_trajectory=True,
    )
    assert path.shape == (9, 3, 2)


# ---------------------------------------------------------------------------- SDE and ODE
def _gaussian_noise_predictor(mean: float, std: float, schedule: NoiseSchedule):
    """The exact E[noise | x_t] for data N(mean, std^2 I)."""
    data = GaussianMixture.create([[mean, mean]], std**2)
    return MixtureNoisePredictor(data, schedule)


def test_probability_flow_ode_solved_by_ddim_maps_standard_noise_to_the_data_gaussian(schedule):
    """For data N(m, s^2 I) the ODE keeps (x_t - sqrt(ab) m) / sqrt(ab s^2 + 1 - ab) fixed."""
    m, s = 0.5, 0.3
    model = _gaussian_noise_predictor(m, s, schedule)
    x_T = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x0 = sample_ddim(model, schedule, x_T.shape, num_steps=T, eta=0.0, x_T=x_T)
    ab = schedule.alpha_bars[-1]
    exact = m + s * (x_T - ab.sqrt() * m) / (ab * s**2 + 1 - ab).sqrt()
    assert (x0 - exact).abs().max() < 0.01  # 1000 Euler steps: the slope 0.3 is met to 0.5%
    # so N(0, I) lands on N(m, s^2 I): the sample's moments are the noise's, mapped
    torch.testing.assert_close(x0.mean(0), m + s * x_T.mean(0), atol=3e-3, rtol=0)
    torch.testing.assert_close(x0.std(0), s * x_T.std(0), atol=3e-3, rtol=0)


def test_euler_steps_of_the_probability_flow_drift_reach_the_same_images_as_ddim(schedule):
    model = _gaussian_noise_predictor(-0.4, 0.5, schedule)
    x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ddim = sample_ddim(model, schedule, x_T.shape, num_steps=T, x_T=x_T)
    x = x_T.clone()
    for step in reversed(range(T)):
        t = torch.full((x.shape[0],), step)
        x = x - probability_flow_drift(x, t, model.score(x, t), schedule)
    assert (x - ddim).norm(dim=1).mean() < 0.01


def test_ddim_with_eta_zero_is_euler_in_x_over_sqrt_alpha_bar_and_sigma(mixture, schedule):
    """Song et al. 2021 (DDIM), sec. 4.3, eq. 14: d x_bar = eps d sigma."""
    model = MixtureNoisePredictor(mixture, schedule)
    x_T = torch.randn(50, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    steps = ddim_timesteps(T, 12)
    ab = schedule.alpha_bars

    def sigma(step: int) -> torch.Tensor:
        return ((1 - ab[step]) / ab[step]).sqrt() if step >= 0 else torch.zeros((), dtype=ab.dtype)

    x_bar = x_T / ab[steps[0]].sqrt()
    for step, prev in zip(steps, steps[1:] + [-1], strict=True):
        t = torch.full((50,), step)
        eps = model(x_bar / (1 + sigma(step) ** 2).sqrt(), t)
        x_bar = x_bar + (sigma(prev) - sigma(step)) * eps
    torch.testing.assert_close(
        x_bar, sample_ddim(model, schedule, x_T.shape, num_steps=12, x_T=x_T)
    )


def test_ddpm_step_is_euler_maruyama_of_the_reverse_sde_to_first_order_in_beta(mixture):
    """The gap between the two steps shrinks like beta^2: four times smaller betas, ~16x."""
    gaps = []
    for num_steps in (250, 1000):
        schedule = NoiseSchedule.linear(num_steps)  # betas scaled by 1000 / T
        model = MixtureNoisePredictor(mixture, schedule)
        g = torch.Generator().manual_seed(3)
        x_t, z = torch.randn(2, 500, 2, generator=g, dtype=torch.float64)
        step = num_steps // 2
        t = torch.full((500,), step)
        ddpm, _ = ddpm_step(x_t, step, model(x_t, t), schedule, noise=z)
        drift = reverse_sde_drift(x_t, t, model.score(x_t, t), schedule)
        em = x_t - drift + schedule.betas[step].sqrt() * z
        gaps.append((ddpm - em).abs().max().item())
    assert 10 < gaps[0] / gaps[1] < 25


def test_reverse_sde_drift_is_the_probability_flow_drift_plus_half_the_diffusion_score(schedule):
    x, score = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    t = torch.tensor([0, 100, 500, 999])
    beta = schedule.betas[t][:, None]
    torch.testing.assert_close(
        reverse_sde_drift(x, t, score, schedule),
        probability_flow_drift(x, t, score, schedule) - 0.5 * beta * score,
    )


# ---------------------------------------------------------------------------- loud errors
def test_wrong_inputs_raise_one_line_errors_that_name_the_value(mixture, schedule):
    eps = torch.zeros(2, 3)
    cases = [
        (lambda: score_from_noise(eps, torch.tensor([0, 1000]), schedule), "t = 1000"),
        (lambda: score_from_noise(eps, torch.tensor([0.0, 1.0]), schedule), "int64"),
        (lambda: x0_from_score(eps, torch.tensor([0, 1]), torch.zeros(2, 4), schedule), "(2, 4)"),
        (lambda: langevin_dynamics(mixture.score, eps[:, :2], -0.1, 3), "-0.1"),
        (lambda: langevin_dynamics(mixture.score, eps[:, :2], 0.1, 0), "num_steps"),
        (
            lambda: annealed_langevin_dynamics(lambda y, s: y, eps, [0.1, 0.5], 0.1, 2),
            "strictly decreasing",
        ),
        (lambda: GaussianMixture.create([[0.0, 0.0]], -1.0), "-1.0"),
        (lambda: GaussianMixture.create([[0.0], [1.0]], 1.0, [0.5, 0.6]), "sum to 1"),
        (lambda: mixture.score(torch.zeros(3, 5)), "(3, 5)"),
        (lambda: mixture.score(torch.zeros(2, 2), torch.tensor([0, 7])), "class 7"),
        (lambda: mixture.noised(1.5), "1.5"),
        (lambda: MixtureNoisePredictor("gmm", schedule), "str"),
    ]
    for call, needle in cases:
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        message = str(info.value)
        assert needle in message, f"{needle!r} not in {message!r}"
        assert "\n" not in message
