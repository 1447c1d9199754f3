"""The forward (diffusion) process q: adding Gaussian noise, one step or many at once.

With 0-based steps (the code's ``t`` is the paper's ``t + 1``; see the notation card):

* one step (Ho et al. 2020, eq. 2):
  ``q(x_t | x_{t-1}) = N(sqrt(alphas[t]) x_{t-1}, betas[t] I)``, where ``x_{-1}`` is the
  clean image ``x0``;
* any step in closed form (eq. 4):
  ``q(x_t | x0) = N(sqrt(alpha_bars[t]) x0, (1 - alpha_bars[t]) I)``;
* the posterior that the reverse process imitates (eqs. 6-7):
  ``q(x_{t-1} | x_t, x0) = N(coef_x0[t] x0 + coef_x_t[t] x_t, posterior_variance[t] I)``.
"""

from __future__ import annotations

from torch import Tensor

from ._validation import check_same_shape, check_x_and_t
from .schedules import NoiseSchedule, gather_at

__all__ = ["add_noise", "add_noise_step", "posterior_mean_variance"]


def add_noise(x0: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Sample ``x_t ~ q(x_t | x0)`` in one shot (Ho et al. 2020, eq. 4).

    ``x_t = sqrt(alpha_bars[t]) x0 + sqrt(1 - alpha_bars[t]) noise``

    Args:
        x0: clean images, shape (B, C, H, W) (or any (B, ...)), in [-1, 1].
        t: steps in [0, T), int64, shape (B,).
        noise: standard normal noise, shape of ``x0``.
        schedule: the noise schedule.

    Returns:
        x_t, shape of ``x0``.
    """
    check_x_and_t(x0, t, schedule, "x0")
    check_same_shape(noise, x0, "noise", "x0")
    alpha_bar_t = gather_at(schedule.alpha_bars, t, like=x0)
    return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * noise


def add_noise_step(x_prev: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Take one forward step, ``x_t ~ q(x_t | x_{t-1})`` (Ho et al. 2020, eq. 2).

    ``x_t = sqrt(alphas[t]) x_{t-1} + sqrt(betas[t]) noise``

    Iterating this from ``x0`` with ``t = 0, 1, ..., k`` gives a sample with the same
    distribution as ``add_noise(x0, k, ...)``.

    Args:
        x_prev: images at step ``t - 1`` (the clean ``x0`` when ``t = 0``), shape (B, ...).
        t: the step being taken, int64, shape (B,), in [0, T).
        noise: standard normal noise, shape of ``x_prev``.
        schedule: the noise schedule.

    Returns:
        x_t, shape of ``x_prev``.
    """
    check_x_and_t(x_prev, t, schedule, "x_prev")
    check_same_shape(noise, x_prev, "noise", "x_prev")
    alpha_t = gather_at(schedule.alphas, t, like=x_prev)
    beta_t = gather_at(schedule.betas, t, like=x_prev)
    return alpha_t.sqrt() * x_prev + beta_t.sqrt() * noise


def posterior_mean_variance(
    x0: Tensor, x_t: Tensor, t: Tensor, schedule: NoiseSchedule
) -> tuple[Tensor, Tensor]:
    """Mean and variance of the posterior ``q(x_{t-1} | x_t, x0)`` (Ho et al. 2020, eqs. 6-7).

    ``mean = beta_t sqrt(alpha_bar_{t-1}) / (1 - alpha_bar_t) x0
    + (1 - alpha_bar_{t-1}) sqrt(alpha_t) / (1 - alpha_bar_t) x_t``

    ``variance = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t``  (zero at t = 0)

    Args:
        x0: clean images (or a prediction of them), shape (B, ...).
        x_t: noisy images at step ``t``, shape of ``x0``.
        t: steps, int64, shape (B,).
        schedule: the noise schedule.

    Returns:
        ``(mean, variance)``: mean of shape of ``x0``; variance of shape (B, 1, ..., 1).
    """
    check_x_and_t(x_t, t, schedule, "x_t")
    check_same_shape(x0, x_t, "x0", "x_t")
    mean = (
        gather_at(schedule.posterior_mean_coef_x0, t, like=x_t) * x0
        + gather_at(schedule.posterior_mean_coef_x_t, t, like=x_t) * x_t
    )
    return mean, gather_at(schedule.posterior_variance, t, like=x_t)
