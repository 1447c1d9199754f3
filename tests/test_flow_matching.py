"""Flow matching: the path, its target, the loss, the samplers, checked against closed forms
for Gaussian data and against diffusers' flow-matching schedulers (the oracle)."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.flow_matching import (
    FlowMatching,
    flow_euler_step,
    flow_matching_loss,
    flow_times,
    guided_velocity,
    interpolate,
    sample_flow,
    straightness,
    velocity_target,
    x0_from_velocity,
)

torch.set_default_dtype(torch.float32)

MU, S = 0.7, 0.3  # Gaussian data x0 ~ N(MU, S^2), independent per coordinate


def exact_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """E[noise - x0 | x_t = x] for x0 ~ N(MU, S^2) on the path x_t = (1 - t) x0 + t noise."""
    t = t.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    a = 1 - t
    var = a**2 * S**2 + t**2
    centred = x - a * MU
    return (t - a * S**2) / var * centred - MU


def gaussian_velocity_net(scale: float = 1000.0):
    """A 'network' that returns the exact velocity, called as the book calls a network."""

    def net(x: torch.Tensor, s: torch.Tensor, cond=None) -> torch.Tensor:
        return exact_velocity(x, s / scale)

    return net


# ---------------------------------------------------------------------------- the path
def test_interpolate_is_data_at_zero_and_noise_at_one():
    x0, noise = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([0.0, 1.0, 0.25])
    x_t = interpolate(x0, noise, t)
    assert torch.equal(x_t[0], x0[0])
    assert torch.equal(x_t[1], noise[1])
    assert torch.allclose(x_t[2], 0.75 * x0[2] + 0.25 * noise[2])


def test_velocity_target_is_the_time_derivative_of_the_path():
    x0, noise = torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    t, h = torch.tensor([0.3, 0.6], dtype=torch.float64), 1e-6
    numeric = (interpolate(x0, noise, t + h) - interpolate(x0, noise, t - h)) / (2 * h)
    assert torch.allclose(numeric, velocity_target(x0, noise), atol=1e-8)


def test_x0_from_velocity_recovers_the_clean_example_from_the_true_velocity():
    x0, noise = torch.randn(4, 3), torch.randn(4, 3)
    t = torch.rand(4)
    x_t = interpolate(x0, noise, t)
    assert torch.allclose(x0_from_velocity(x_t, t, velocity_target(x0, noise)), x0, atol=1e-6)


def test_interpolate_rejects_one_time_for_a_batch_of_several():
    with pytest.raises(ValueError, match="one time per example"):
        interpolate(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor(0.5))


# ---------------------------------------------------------------------------- time sampling
def test_uniform_times_are_uniform_on_0_1():
    t = FlowMatching("uniform").sample_times(20000, generator=torch.Generator().manual_seed(0))
    assert t.min() >= 0 and t.max() < 1
    assert abs(float(t.mean()) - 0.5) < 0.01 and abs(float(t.var()) - 1 / 12) < 0.003


def test_logit_normal_times_follow_their_density():
    path = FlowMatching("logit-normal")
    t = path.sample_times(50000, generator=torch.Generator().manual_seed(0))
    hist = torch.histc(t, bins=10, min=0, max=1) / t.numel()
    centres = (torch.arange(10) + 0.5) / 10
    expected = path.time_density(centres) * 0.1  # midpoint rule
    assert torch.allclose(hist, expected, atol=0.012)
    grid = torch.linspace(1e-4, 1 - 1e-4, 20001)
    assert abs(float(torch.trapezoid(path.time_density(grid), grid)) - 1) < 1e-3


def test_flow_matching_rejects_unknown_settings_in_one_line():
    with pytest.raises(ValueError, match="unknown time sampling 'cosine'"):
        FlowMatching("cosine")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="logit_std must be > 0"):
        FlowMatching(logit_std=0)


def test_flow_matching_round_trips_through_its_dict():
    path = FlowMatching("uniform", time_scale=1.0)
    assert FlowMatching.from_dict(path.to_dict()) == path


# ---------------------------------------------------------------------------- the loss
def test_loss_is_zero_for_a_model_that_returns_the_target():
    x0, noise, t = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4), torch.rand(6)

    def oracle(x_t, s):
        return noise - x0

    assert float(flow_matching_loss(oracle, x0, t, noise, FlowMatching())) == 0.0


def test_loss_calls_the_network_at_time_scale_times_t():
    seen = {}

    def net(x_t, s):
        seen["s"] = s
        return torch.zeros_like(x_t)

    t = torch.tensor([0.25, 0.5])
    flow_matching_loss(net, torch.zeros(2, 3), t, torch.ones(2, 3), FlowMatching())
    assert torch.allclose(seen["s"], torch.tensor([250.0, 500.0]))


def test_the_exact_velocity_minimises_the_loss_for_gaussian_data():
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = MU + S * torch.randn(n, 1, generator=g)
    noise, t = torch.randn(n, 1, generator=g), torch.rand(n, generator=g)
    path = FlowMatching("uniform")
    losses = {}
    for scale in (0.9, 1.0, 1.1):
        net = gaussian_velocity_net()

        def scaled(x, s, net=net, scale=scale):
            return scale * net(x, s)

        losses[scale] = float(flow_matching_loss(scaled, x0, t, noise, path))
    assert losses[1.0] < losses[0.9] and losses[1.0] < losses[1.1]


def test_loss_names_the_wrong_output_shape():
    with pytest.raises(ValueError, match="must return the shape of x_t"):
        flow_matching_loss(
            lambda x, s: x[:, :1],
            torch.zeros(2, 3),
            torch.rand(2),
            torch.zeros(2, 3),
            FlowMatching(),
        )


# ---------------------------------------------------------------------------- the samplers
def test_flow_times_run_from_noise_to_data_evenly():
    assert flow_times(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    shifted = flow_times(4, shift=3.0)
    assert shifted[0] == 1.0 and shifted[-1] == 0.0
    assert all(s >= u for s, u in zip(shifted, flow_times(4)))  # more time at high noise


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_flow_times_reject_a_bad_number_of_steps(bad):
    with pytest.raises(ValueError, match="num_steps must be an int >= 1"):
        flow_times(bad)


def test_euler_step_moves_against_time():
    x, v = torch.zeros(1, 2), torch.ones(1, 2)
    assert torch.equal(flow_euler_step(x, 1.0, 0.75, v), torch.full((1, 2), -0.25))


def _flow_map_error(solver: str, steps: int) -> float:
    """Largest error of the sampler against the exact flow map of Gaussian data."""
    z = torch.randn(512, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = sample_flow(
        gaussian_velocity_net(), FlowMatching(), z.shape, num_steps=steps, solver=solver, x_T=z
    )
    # the exact ODE maps x_1 = z to x_0 = MU + S z (x_t = (1 - t) MU + sqrt(var_t) z)
    return float((out - (MU + S * z)).abs().max())


@pytest.mark.parametrize(("solver", "tolerance"), [("euler", 0.012), ("heun", 2e-4)])
def test_samplers_reach_the_exact_flow_map_of_gaussian_data(solver, tolerance):
    assert _flow_map_error(solver, 200) < tolerance


def test_heun_converges_at_second_order_and_euler_at_first():
    euler = [_flow_map_error("euler", n) for n in (20, 40)]
    heun = [_flow_map_error("heun", n) for n in (20, 40)]
    assert 1.6 < euler[0] / euler[1] < 2.4  # halving the step halves Euler's error
    assert heun[0] / heun[1] > 3.0  # and quarters Heun's
    assert heun[1] < euler[1] / 10


def test_sample_flow_returns_every_state_on_request():
    x, states = sample_flow(
        gaussian_velocity_net(), FlowMatching(), (3, 1), num_steps=5, return_path=True
    )
    assert states.shape == (6, 3, 1) and torch.equal(states[-1], x)


def test_classifier_free_guidance_combines_the_two_velocities():
    def net(x, s, cond=None):
        return torch.full_like(x, 1.0 if cond is None else 3.0)

    x, t = torch.zeros(2, 2), torch.full((2,), 0.5)
    v = guided_velocity(net, x, t, FlowMatching(), cond=torch.zeros(2), guidance_scale=2.5)
    assert torch.allclose(v, torch.full_like(x, 1.0 + 2.5 * 2.0))
    with pytest.raises(ValueError, match="needs a condition"):
        guided_velocity(net, x, t, FlowMatching(), guidance_scale=2.0)


def test_clip_x0_keeps_the_implied_clean_image_in_range():
    def far(x, s):
        return x - 5.0  # implies x0 = x - t (x - 5): far outside [-1, 1]

    x = sample_flow(far, FlowMatching(), (4, 3), num_steps=3, clip_x0=True)
    assert float(x.abs().max()) <= 1.0 + 1e-6


def test_sample_flow_rejects_an_unknown_solver_and_times_that_do_not_decrease():
    with pytest.raises(ValueError, match="unknown solver 'rk4'"):
        sample_flow(gaussian_velocity_net(), FlowMatching(), (2, 1), solver="rk4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times must decrease"):
        sample_flow(gaussian_velocity_net(), FlowMatching(), (2, 1), times=[0.0, 1.0])


# ---------------------------------------------------------------------------- diffusers
diffusers = pytest.importorskip("diffusers")


def _toy_net(x: torch.Tensor, s: torch.Tensor, cond=None) -> torch.Tensor:
    """A deterministic network that depends on x and on the time it is called with."""
    s = s.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return 0.4 * x - 0.2 + 0.3 * torch.sin(x + s / 500)


@pytest.mark.parametrize("steps", [1, 2, 5, 10, 50])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_euler_agrees_with_diffusers_flow_match_euler_scheduler(steps, shift):
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    unshifted = [1.0 - i / steps for i in range(steps)]  # diffusers shifts these itself
    scheduler.set_timesteps(sigmas=unshifted)
    x0 = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(steps))
    x = x0.clone()
    for t in scheduler.timesteps:
        out = _toy_net(x, t.expand(x.shape[0]))
        x = scheduler.step(out, t, x).prev_sample
    ours = sample_flow(_toy_net, FlowMatching(), x0.shape, num_steps=steps, shift=shift, x_T=x0)
    assert torch.allclose(ours, x, atol=1e-5)


@pytest.mark.parametrize("steps", [2, 5, 10, 30])
def test_heun_agrees_with_diffusers_flow_match_heun_scheduler(steps):
    from diffusers import FlowMatchHeunDiscreteScheduler

    scheduler = FlowMatchHeunDiscreteScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(steps)
    x0 = torch.randn(2, 1, 5, 5, generator=torch.Generator().manual_seed(steps))
    x, calls = x0.clone(), 0
    for t in scheduler.timesteps:
        out = _toy_net(x, t.expand(x.shape[0]))
        calls += 1
        x = scheduler.step(out, t, x).prev_sample
    # diffusers' grid: sigma from 1 to its sigma_min (1 / 1000 here), then 0
    sigmas = scheduler.sigmas  # [s0, s1, s1, ..., s_{N-1}, s_{N-1}, 0]: each inner one twice
    times = [float(sigmas[0]), *(float(s) for s in sigmas[1:-1:2]), float(sigmas[-1])]
    assert times[-1] == 0.0 and len(times) == steps + 1
    ours = sample_flow(_toy_net, FlowMatching(), x0.shape, solver="heun", times=times, x_T=x0)
    assert torch.allclose(ours, x, atol=1e-4)  # diffusers rounds its sigmas to float32
    assert calls == 2 * steps - 1  # the last step is an Euler step, as ours


def test_network_time_is_diffusers_timestep():
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(sigmas=[1.0, 0.5, 0.25])
    ours = FlowMatching().network_time(torch.tensor([1.0, 0.5, 0.25]))
    assert torch.allclose(ours, scheduler.timesteps.float())
    assert math.isclose(FlowMatching().time_scale, scheduler.config.num_train_timesteps)


# ---------------------------------------------------------------------------- straightness
def test_a_straight_path_has_zero_straightness_and_a_bent_one_does_not():
    times = flow_times(4)
    start, end = torch.randn(3, 2), torch.randn(3, 2)
    line = torch.stack([end + t * (start - end) for t in times])  # x_t on the chord
    assert torch.allclose(straightness(line, times), torch.zeros(3), atol=1e-10)
    bent = line.clone()
    bent[2] += 1.0  # one point off the chord
    assert bool((straightness(bent, times) > 0.1).all())


def test_straightness_of_the_exact_gaussian_flow_is_small_but_not_zero():
    z = torch.randn(256, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    times = flow_times(100)
    _, states = sample_flow(
        gaussian_velocity_net(), FlowMatching(), z.shape, times=times, x_T=z, return_path=True
    )
    s = straightness(states, times)
    assert 0 < float(s.mean()) < 0.5


def test_straightness_needs_one_time_per_state():
    with pytest.raises(ValueError, match="one time per state"):
        straightness(torch.zeros(3, 2, 2), [1.0, 0.0])
