"""Samplers as ODE solvers: Euler, Heun and DPM-Solver++(2M) in EDM's sigma, checked against
diffusers' schedulers of the same names (the oracle), against closed forms for Gaussian data,
and against this package's DDIM."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.ode_samplers import (
    ODE_SAMPLERS,
    SAMPLERS,
    dpm_solver_pp_step,
    euler_step,
    heun_step,
    karras_sigmas,
    network_calls,
    sample_dpm_solver_pp,
    sample_euler,
    sample_heun,
    sampling_grid,
    sigma_at,
    sigmas_of,
    timestep_of_sigma,
    timestep_spacing,
    x0_and_noise_at_sigma,
)
from ddpm_tutorial.parameterizations import x0_and_noise
from ddpm_tutorial.reverse_process import ddim_step, ddim_timesteps, sample_ddim
from ddpm_tutorial.schedules import NoiseSchedule, rescale_zero_terminal_snr

SCHEDULE = NoiseSchedule.linear(1000)
T = SCHEDULE.num_steps
SPACINGS = ("linspace", "leading", "trailing")
SHAPE = (2, 1, 4, 4)


def toy_net(x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
    """A deterministic 'network' that depends on x and on the timestep it is called with."""
    t = t.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return 0.3 * x + 0.01 * t / 1000 + 0.1 * torch.sin(x + t / 300)


def noise(seed: int, shape=SHAPE) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------- sigmas and grids
def test_sigma_is_the_noise_of_x_over_sqrt_alpha_bar():
    x0, eps, t = noise(0), noise(1), 700
    ab = SCHEDULE.alpha_bars[t]
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    assert torch.allclose(x_t / ab.sqrt(), x0 + sigmas_of(SCHEDULE)[t] * eps, atol=1e-12)


def test_sigmas_rise_with_t_from_0_01_to_157_on_the_linear_schedule():
    sigmas = sigmas_of(SCHEDULE)
    assert bool((sigmas[1:] > sigmas[:-1]).all())
    assert math.isclose(float(sigmas[0]), 0.01, rel_tol=1e-3)
    assert 156 < float(sigmas[-1]) < 158


def test_timestep_spacing_examples_of_its_docstring():
    assert timestep_spacing(1000, 10, "linspace").tolist() == [999 - 111 * i for i in range(10)]
    assert timestep_spacing(1000, 10, "leading").tolist() == [900 - 100 * i for i in range(10)]
    assert timestep_spacing(1000, 10, "trailing").tolist() == [999 - 100 * i for i in range(10)]


def test_only_trailing_starts_from_the_last_step_when_sampling_in_one_step():
    assert [timestep_spacing(1000, 1, s).tolist() for s in SPACINGS] == [[0.0], [0.0], [999.0]]


@pytest.mark.parametrize("spacing", SPACINGS)
def test_spacing_gives_n_strictly_decreasing_steps_in_range(spacing):
    for n in (1, 2, 3, 7, 61, 333, 999, 1000):
        steps = timestep_spacing(1000, n, spacing)
        assert len(steps) == n and float(steps.min()) >= 0 and float(steps.max()) <= 999
        assert bool((steps[1:] < steps[:-1]).all())


def test_ddim_of_this_package_visits_linspace_rounded_to_whole_steps():
    for n in (2, 3, 7, 10, 50, 333):
        ours = timestep_spacing(1000, n, "linspace").round().long().tolist()
        assert ours == ddim_timesteps(1000, n)


def test_sigma_at_interpolates_sigma_linearly_between_whole_steps():
    sigmas = sigmas_of(SCHEDULE)
    t = torch.tensor([0.0, 10.0, 10.25, 998.5, 999.0], dtype=torch.float64)
    expected = torch.stack(
        [
            sigmas[0],
            sigmas[10],
            0.75 * sigmas[10] + 0.25 * sigmas[11],
            0.5 * sigmas[998] + 0.5 * sigmas[999],
            sigmas[999],
        ]
    )
    assert torch.allclose(sigma_at(SCHEDULE, t), expected, rtol=1e-14)


def test_timestep_of_sigma_inverts_log_sigma_and_clamps_outside_the_schedule():
    sigmas = sigmas_of(SCHEDULE)
    whole = torch.tensor([0, 1, 500, 998, 999])
    assert torch.allclose(timestep_of_sigma(SCHEDULE, sigmas[whole]), whole.double(), atol=1e-9)
    midway = (0.5 * (sigmas[300].log() + sigmas[301].log())).exp()
    assert math.isclose(float(timestep_of_sigma(SCHEDULE, midway[None])), 300.5, rel_tol=1e-12)
    outside = torch.tensor([0.0, 1e-3, 1e4], dtype=torch.float64)
    assert timestep_of_sigma(SCHEDULE, outside).tolist() == [0.0, 0.0, 999.0]


def test_karras_sigmas_follow_edm_equation_5():
    sigmas = karras_sigmas(0.01, 80.0, 5, rho=7.0)
    assert sigmas.shape == (6,) and float(sigmas[-1]) == 0.0
    assert math.isclose(float(sigmas[0]), 80.0) and math.isclose(float(sigmas[-2]), 0.01)
    roots = sigmas[:-1] ** (1 / 7)
    assert torch.allclose(roots[1:] - roots[:-1], (roots[1] - roots[0]).expand(4), atol=1e-12)
    even = karras_sigmas(1.0, 5.0, 5, rho=1.0)  # rho = 1: evenly spaced sigmas
    assert torch.allclose(even, torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0], dtype=torch.float64))
    assert karras_sigmas(0.01, 80.0, 1).tolist() == [80.0, 0.0]


def test_larger_rho_crowds_the_steps_toward_sigma_min():
    low, high = karras_sigmas(0.01, 80.0, 10, rho=1.0), karras_sigmas(0.01, 80.0, 10, rho=7.0)
    assert bool((high[1:-2] < low[1:-2]).all())


def test_network_calls_per_sampler():
    assert [network_calls(s, 10) for s in SAMPLERS] == [10, 10, 10, 19, 10]
    assert network_calls("heun", 1) == 1


@pytest.mark.parametrize(("name", "calls_of"), [("euler", 1), ("heun", 2), ("dpm-solver++", 1)])
def test_each_sampler_calls_the_network_as_often_as_network_calls_says(name, calls_of):
    calls = []

    def counting(x, t, cond=None):
        calls.append(t)
        return toy_net(x, t)

    for n in (1, 2, 7):
        calls.clear()
        ODE_SAMPLERS[name](counting, SCHEDULE, SHAPE, num_steps=n, x_T=noise(n))
        assert len(calls) == network_calls(name, n)


def test_the_network_gets_int64_steps_when_they_are_whole_and_float_ones_with_karras():
    seen = []

    def recording(x, t, cond=None):
        seen.append(t)
        return toy_net(x, t)

    sample_euler(recording, SCHEDULE, SHAPE, num_steps=5, spacing="trailing", x_T=noise(0))
    assert all(t.dtype == torch.long and t.shape == (2,) for t in seen)
    assert [int(t[0]) for t in seen] == [999, 799, 599, 399, 199]
    seen.clear()
    sample_euler(recording, SCHEDULE, SHAPE, num_steps=5, karras=True, x_T=noise(0))
    assert all(t.dtype == torch.float32 for t in seen)
    assert any(float(t[0]) != round(float(t[0])) for t in seen)


# ---------------------------------------------------------------------------- steps
@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_x0_and_noise_at_sigma_agree_with_parameterizations_at_whole_steps(prediction):
    x_t, output = noise(0), noise(1)
    t = torch.tensor([3, 640])
    ab = SCHEDULE.alpha_bars[t].view(-1, 1, 1, 1)
    sigma = sigmas_of(SCHEDULE)[t]
    expected = x0_and_noise(output, x_t, t, SCHEDULE, prediction)
    for b in range(2):
        x0, eps = x0_and_noise_at_sigma(
            output[b : b + 1], (x_t / ab.sqrt())[b : b + 1], float(sigma[b]), prediction
        )
        assert torch.allclose(x0, expected[0][b : b + 1], atol=1e-10)
        assert torch.allclose(eps, expected[1][b : b + 1], atol=1e-10)


def test_an_euler_step_is_a_ddim_step_in_x_bar_and_sigma():
    x_t, eps = noise(0), noise(1)
    sigmas, ab = sigmas_of(SCHEDULE), SCHEDULE.alpha_bars
    for step, prev in [(999, 888), (500, 499), (120, 0)]:
        x_prev, _ = ddim_step(x_t, step, prev, eps, SCHEDULE, eta=0.0)
        x_bar_prev = euler_step(
            x_t / ab[step].sqrt(), float(sigmas[step]), float(sigmas[prev]), eps
        )
        assert torch.allclose(x_prev / ab[prev].sqrt(), x_bar_prev, atol=1e-10)


def test_dpm_solver_first_order_step_is_the_euler_step_and_its_last_step_lands_on_x0():
    x_bar, x0 = noise(0), noise(1)
    sigma, sigma_next = 3.0, 1.5
    eps = (x_bar - x0) / sigma
    first = dpm_solver_pp_step(x_bar, sigma, sigma_next, x0)
    assert torch.allclose(first, euler_step(x_bar, sigma, sigma_next, eps), atol=1e-12)
    last = dpm_solver_pp_step(x_bar, sigma, 0.0, x0, x0_prev=noise(2), sigma_prev=6.0)
    assert torch.equal(last, x0)


def test_heun_step_with_equal_slopes_is_the_euler_step():
    x_bar, eps = noise(0), noise(1)
    assert torch.allclose(heun_step(x_bar, 2.0, 1.0, eps, eps), euler_step(x_bar, 2.0, 1.0, eps))


# ---------------------------------------------------------------------------- DDIM
@pytest.mark.parametrize("num_steps", [2, 4, 10, 28])
def test_ddim_with_eta_0_equals_euler_on_the_same_steps(num_steps):
    """999 = 27 * 37: for these N, linspace's steps are whole and DDIM visits the same ones."""
    x_T = noise(num_steps)
    ddim = sample_ddim(toy_net, SCHEDULE, SHAPE, num_steps=num_steps, eta=0.0, x_T=x_T)
    euler = sample_euler(toy_net, SCHEDULE, SHAPE, num_steps=num_steps, x_T=x_T)
    assert torch.allclose(ddim, euler, atol=1e-9)


# ---------------------------------------------------------------------------- closed form
MU, S = 0.4, 0.5  # Gaussian data x0 ~ N(MU, S^2), independent per coordinate
LOG_SIGMAS = sigmas_of(SCHEDULE).log()


def exact_eps(x_t: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
    """E[noise | x_t] for Gaussian data; sigma(t) is log-linear between steps, as with karras."""
    t = t.double()
    low = t.floor().long().clamp(max=T - 2)
    w = t - low
    sigma = ((1 - w) * LOG_SIGMAS[low] + w * LOG_SIGMAS[low + 1]).exp()
    sigma = sigma.to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))
    x_bar = x_t * (1 + sigma**2).sqrt()  # = x0 + sigma noise ~ N(MU, S^2 + sigma^2)
    return sigma * (x_bar - MU) / (S**2 + sigma**2)


def standard_noise(n: int = 4000) -> torch.Tensor:
    z = torch.randn(n, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (z - z.mean()) / z.std()


def exact_sample(z: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Where every sampler converges: the exact ODE from sigmas[0] to sigmas[-2], then the last
    step to sigma = 0, which all three take as x0_pred = E[x0 | x_bar].

    The ODE d x_bar = eps d sigma with this eps keeps (x_bar - MU) / sqrt(S^2 + sigma^2) fixed.
    """
    sigma_max, sigma_min = float(sigmas[0]), float(sigmas[-2])
    u = (z * math.sqrt(1 + sigma_max**2) - MU) / math.sqrt(S**2 + sigma_max**2)
    return MU + S**2 * u / math.sqrt(S**2 + sigma_min**2)


def _error(name: str, num_steps: int) -> float:
    z = standard_noise()
    out = ODE_SAMPLERS[name](exact_eps, SCHEDULE, z.shape, num_steps=num_steps, karras=True, x_T=z)
    _, sigmas = sampling_grid(SCHEDULE, num_steps, karras=True)
    return float((out - exact_sample(z, sigmas)).abs().max())


@pytest.mark.parametrize(
    ("name", "num_steps"), [("euler", 400), ("heun", 80), ("dpm-solver++", 80)]
)
def test_each_sampler_maps_noise_to_the_gaussian_data_distribution(name, num_steps):
    z = standard_noise()
    out = ODE_SAMPLERS[name](exact_eps, SCHEDULE, z.shape, num_steps=num_steps, karras=True, x_T=z)
    assert abs(float(out.mean()) - MU) < 0.005
    assert abs(float(out.std()) - S) < 0.005


def test_euler_converges_at_first_order_heun_and_dpm_solver_at_second():
    euler = [_error("euler", n) for n in (20, 40)]
    heun = [_error("heun", n) for n in (20, 40)]
    dpm = [_error("dpm-solver++", n) for n in (20, 40)]
    assert 1.6 < euler[0] / euler[1] < 2.4  # halving the step halves Euler's error
    assert heun[0] / heun[1] > 3.0 and dpm[0] / dpm[1] > 3.0  # and quarters the others'
    assert heun[1] < euler[1] / 5 and dpm[1] < euler[1] / 5


def test_a_v_network_samples_the_same_images_as_the_noise_network_it_is_built_from():
    def v_net(x_t, t, cond=None):
        ab = SCHEDULE.alpha_bars[t].view(-1, 1, 1, 1).to(x_t.dtype)
        eps = toy_net(x_t, t)
        x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
        return ab.sqrt() * eps - (1 - ab).sqrt() * x0

    for sampler in ODE_SAMPLERS.values():
        eps_out = sampler(toy_net, SCHEDULE, SHAPE, num_steps=6, spacing="trailing", x_T=noise(3))
        v_out = sampler(
            v_net, SCHEDULE, SHAPE, num_steps=6, spacing="trailing", x_T=noise(3), prediction="v"
        )
        assert torch.allclose(eps_out, v_out, atol=1e-9)


# ---------------------------------------------------------------------------- options
def test_guidance_combines_the_conditional_and_unconditional_predictions():
    def net(x, t, cond=None):
        return toy_net(x, t) + (0.0 if cond is None else 0.2)

    def combined(x, t):
        return toy_net(x, t) + 2.5 * 0.2  # eps_u + w (eps_c - eps_u)

    for sampler in ODE_SAMPLERS.values():
        guided = sampler(
            net, SCHEDULE, SHAPE, num_steps=4, cond=1, guidance_scale=2.5, x_T=noise(1)
        )
        assert torch.allclose(guided, sampler(combined, SCHEDULE, SHAPE, num_steps=4, x_T=noise(1)))


@pytest.mark.parametrize("name", ["euler", "heun", "dpm-solver++"])
def test_clip_x0_keeps_the_samples_in_range(name):
    def far(x, t, cond=None):
        return -5.0 * torch.ones_like(x)  # implies a clean image far outside [-1, 1]

    sampler = ODE_SAMPLERS[name]
    clipped = sampler(far, SCHEDULE, SHAPE, num_steps=5, clip_x0=True, x_T=noise(0))
    unclipped = sampler(far, SCHEDULE, SHAPE, num_steps=5, x_T=noise(0))
    assert float(clipped.abs().max()) <= 1.0 + 1e-9 < float(unclipped.abs().max())


def test_samplers_keep_the_dtype_and_shape_of_the_noise_and_draw_from_the_generator():
    def draw(sampler):
        generator = torch.Generator().manual_seed(0)
        return sampler(toy_net, SCHEDULE, (3, 2), num_steps=3, generator=generator)

    for sampler in ODE_SAMPLERS.values():
        out, again = draw(sampler), draw(sampler)
        assert out.shape == (3, 2) and out.dtype == torch.float32 and torch.equal(out, again)


# ---------------------------------------------------------------------------- loud errors
def test_unknown_spacing_is_named():
    with pytest.raises(ValueError, match="unknown spacing 'uniform'"):
        timestep_spacing(1000, 10, "uniform")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown spacing 'uniform'"):
        sample_euler(toy_net, SCHEDULE, SHAPE, spacing="uniform")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, 1001])
def test_a_number_of_steps_outside_1_to_t_is_named(bad):
    with pytest.raises(ValueError, match=rf"num_steps must lie in \[1, 1000\].*got {bad}"):
        sample_heun(toy_net, SCHEDULE, SHAPE, num_steps=bad)
    with pytest.raises(ValueError, match="num_steps must be an int >= 1"):
        network_calls("euler", 0)


@pytest.mark.parametrize("rho", [0.0, -7.0])
def test_rho_must_be_positive(rho):
    with pytest.raises(ValueError, match=f"rho must be > 0; got {rho}"):
        karras_sigmas(0.01, 80.0, 10, rho=rho)
    with pytest.raises(ValueError, match="rho must be > 0"):
        sample_dpm_solver_pp(toy_net, SCHEDULE, SHAPE, num_steps=3, karras=True, rho=rho)


def test_karras_sigmas_need_an_ordered_finite_range():
    with pytest.raises(ValueError, match="sigma_min = 2.0, sigma_max = 1.0"):
        karras_sigmas(2.0, 1.0, 4)


def test_guidance_without_a_condition_is_named():
    for sampler in ODE_SAMPLERS.values():
        with pytest.raises(ValueError, match="guidance_scale = 3.0 needs a condition"):
            sampler(toy_net, SCHEDULE, SHAPE, num_steps=2, guidance_scale=3.0)


def test_unknown_sampler_is_named():
    with pytest.raises(ValueError, match="unknown sampler 'plms'"):
        network_calls("plms", 10)


def test_an_ode_sampler_refuses_to_start_at_infinite_sigma():
    zero_snr = rescale_zero_terminal_snr(SCHEDULE)
    with pytest.raises(ValueError, match="t = 999, has sigma = inf"):
        sample_euler(toy_net, zero_snr, SHAPE, num_steps=5, spacing="trailing", prediction="v")


# ---------------------------------------------------------------------------- diffusers
diffusers = pytest.importorskip("diffusers")
#: diffusers calls np.array on torch tensors, which numpy 2 warns about on every set_timesteps
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SCHEDULERS = {
    "euler": "EulerDiscreteScheduler",
    "heun": "HeunDiscreteScheduler",
    "dpm-solver++": "DPMSolverMultistepScheduler",
}


def _scheduler(name: str, **config):
    """A diffusers scheduler on the book's linear schedule.

    diffusers builds its betas and their cumulative product in float32; it is handed the
    book's float64 ``alpha_bars`` (the same betas: see the first test below), so that the
    comparison sees the solvers and not the rounding of the schedule.
    """
    cls = getattr(diffusers, SCHEDULERS.get(name, name))
    extra = {"algorithm_type": "dpmsolver++", "solver_order": 2} if name == "dpm-solver++" else {}
    scheduler = cls(
        num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
        **extra, **config,
    )  # fmt: skip
    scheduler.alphas_cumprod = SCHEDULE.alpha_bars.clone()
    return scheduler


def test_the_linear_schedule_has_the_betas_of_diffusers_linear_schedule():
    theirs = diffusers.EulerDiscreteScheduler(beta_start=1e-4, beta_end=0.02).betas
    assert torch.allclose(SCHEDULE.betas.float(), theirs, rtol=1e-6, atol=0)


def test_sigmas_of_are_diffusers_sigmas():
    theirs = diffusers.EulerDiscreteScheduler(beta_start=1e-4, beta_end=0.02).sigmas[:-1]
    assert torch.allclose(sigmas_of(SCHEDULE).flip(0).float(), theirs, rtol=1e-4)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_timestep_spacing_is_diffusers_for_every_number_of_steps(spacing):
    scheduler = diffusers.EulerDiscreteScheduler(timestep_spacing=spacing)
    quirks = []
    for n in range(1, T + 1):
        scheduler.set_timesteps(n)
        theirs, ours = scheduler.timesteps.double(), timestep_spacing(T, n, spacing)
        if len(theirs) == n + 1:  # numpy's arange with a fractional stride: one step too many
            quirks.append(n)
            assert float(theirs[-1]) == -1 and torch.equal(theirs[:-1], ours)
        else:
            assert torch.equal(theirs, ours), n
    assert (quirks != []) == (spacing == "trailing")
    assert quirks[:3] == ([61, 103, 121] if spacing == "trailing" else [])


@pytest.mark.parametrize("karras", [False, True])
@pytest.mark.parametrize("spacing", SPACINGS)
def test_the_grid_is_diffusers_euler_and_heun_grid(spacing, karras):
    for n in (1, 2, 5, 10, 50):
        euler = _scheduler("euler", timestep_spacing=spacing, use_karras_sigmas=karras)
        euler.set_timesteps(n)
        timesteps, sigmas = sampling_grid(SCHEDULE, n, spacing=spacing, karras=karras)
        assert torch.allclose(timesteps.float(), euler.timesteps, rtol=1e-6, atol=1e-4)
        assert torch.allclose(sigmas.float(), euler.sigmas, rtol=1e-6)
        heun = _scheduler("heun", timestep_spacing=spacing, use_karras_sigmas=karras)
        heun.set_timesteps(n)  # Heun visits every inner sigma twice
        assert torch.allclose(heun.sigmas[::2], sigmas.float()[:-1], rtol=1e-6)


def test_diffusers_dpm_solver_spaces_linspace_differently_but_trailing_the_same():
    dpm = _scheduler("dpm-solver++", timestep_spacing="linspace")
    dpm.set_timesteps(10)  # linspace(0, T - 1, N + 1) rounded, the last value dropped
    assert dpm.timesteps.tolist() == [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
    assert timestep_spacing(T, 10, "linspace").tolist()[-1] == 0.0
    dpm = _scheduler("dpm-solver++", timestep_spacing="trailing")
    dpm.set_timesteps(10)
    assert dpm.timesteps.double().tolist() == timestep_spacing(T, 10, "trailing").tolist()


def test_diffusers_starts_euler_from_sigma_max_noise_and_this_module_from_the_ddpm_prior():
    """x_T ~ N(0, I) at the first step means x_bar = x_T sqrt(1 + sigma_max^2); diffusers'
    init_noise_sigma is that for "leading" only, and sigma_max itself otherwise (which differs
    by a factor 1 + 2e-5 at sigma_max = 157). The oracle tests start diffusers from ours."""
    for spacing in SPACINGS:
        scheduler = _scheduler("euler", timestep_spacing=spacing)
        scheduler.set_timesteps(10)
        sigma_max = float(scheduler.sigmas[0])
        expected = math.sqrt(1 + sigma_max**2) if spacing == "leading" else sigma_max
        assert math.isclose(float(scheduler.init_noise_sigma), expected, rel_tol=1e-6)


def _run_diffusers(name: str, scheduler, net, x_T: torch.Tensor) -> torch.Tensor:
    """diffusers' own sampling loop; Euler and Heun work in x_bar, DPM-Solver in x_t."""
    if name == "dpm-solver++":
        x = x_T.clone()
    else:
        x = x_T * math.sqrt(1 + float(scheduler.sigmas[0]) ** 2)
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(x, t)
        output = net(model_input, t.expand(x.shape[0]))
        x = scheduler.step(output, t, x).prev_sample
    return x


def _diffusers_dpm_solver(spacing: str, karras: bool, num_steps: int, **config):
    """DPMSolverMultistepScheduler on this module's grid (the same for all three samplers).

    Whole steps go in through its own ``timesteps=`` argument; fractional ones (linspace,
    karras), which its API rounds, are set on the scheduler after ``set_timesteps``.
    """
    scheduler = _scheduler("dpm-solver++", **config)
    timesteps, sigmas = sampling_grid(SCHEDULE, num_steps, spacing=spacing, karras=karras)
    if bool((timesteps == timesteps.round()).all()):
        scheduler.set_timesteps(timesteps=timesteps.long().tolist())
        assert torch.allclose(scheduler.sigmas, sigmas.float(), rtol=1e-6)
    else:
        scheduler.set_timesteps(num_steps)
        scheduler.timesteps, scheduler.sigmas = timesteps.float(), sigmas.float()
    return scheduler


#: diffusers keeps its sigmas in float32; from sigma_max = 157 that is 1e-5 absolute, which
#: the one big first step of N = 2 carries into the sample
def _tolerance(num_steps: int) -> float:
    return 2e-3 if num_steps <= 2 else 1e-4


@pytest.mark.parametrize("num_steps", [1, 2, 5, 10, 50])
@pytest.mark.parametrize("karras", [False, True])
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("name", ["euler", "heun", "dpm-solver++"])
def test_samplers_agree_with_diffusers_schedulers(name, spacing, karras, num_steps):
    x_T = noise(num_steps)
    if name == "dpm-solver++":
        scheduler = _diffusers_dpm_solver(spacing, karras, num_steps)
    else:
        scheduler = _scheduler(name, timestep_spacing=spacing, use_karras_sigmas=karras)
        scheduler.set_timesteps(num_steps)
    theirs = _run_diffusers(name, scheduler, toy_net, x_T)
    ours = ODE_SAMPLERS[name](
        toy_net, SCHEDULE, SHAPE, num_steps=num_steps, spacing=spacing, karras=karras, x_T=x_T
    )
    assert torch.allclose(ours, theirs, rtol=0, atol=_tolerance(num_steps))


@pytest.mark.parametrize("num_steps", [2, 10])
@pytest.mark.parametrize("name", ["euler", "heun", "dpm-solver++"])
def test_v_prediction_agrees_with_diffusers(name, num_steps):
    x_T = noise(num_steps)
    if name == "dpm-solver++":
        scheduler = _diffusers_dpm_solver(
            "trailing", False, num_steps, prediction_type="v_prediction"
        )
    else:
        scheduler = _scheduler(name, timestep_spacing="trailing", prediction_type="v_prediction")
        scheduler.set_timesteps(num_steps)
    theirs = _run_diffusers(name, scheduler, toy_net, x_T)
    ours = ODE_SAMPLERS[name](
        toy_net, SCHEDULE, SHAPE, num_steps=num_steps, spacing="trailing", x_T=x_T, prediction="v"
    )
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-4)


def test_timestep_of_sigma_is_diffusers_sigma_to_t():
    scheduler = _scheduler("euler")
    log_sigmas = sigmas_of(SCHEDULE).log().numpy()
    probe = torch.tensor([1e-4, 0.01, 0.0123, 0.5, 3.3, 80.0, 157.0, 400.0], dtype=torch.float64)
    theirs = [float(scheduler._sigma_to_t(s.numpy(), log_sigmas)) for s in probe]
    assert torch.allclose(
        timestep_of_sigma(SCHEDULE, probe), torch.tensor(theirs, dtype=torch.float64)
    )
