r"""Scores: the gradient of the log-density of the noised data, and what a denoiser says about it.

The **score** of a density ``p`` is ``grad_x log p(x)``: a vector field that points where the
density rises, and that needs no normalising constant. For the noised data of a diffusion model,
``q_t(x_t) = integral q(x_t | x0) p(x0) dx0`` with ``q(x_t | x0) = N(sqrt(ab) x0, (1 - ab) I)``
and ``ab = alpha_bars[t]``, the best noise predictor (the minimiser of Ho et al.'s
``L_simple``) is ``E[noise | x_t]``, and

``grad log q_t(x_t) = -E[noise | x_t] / sqrt(1 - ab)``

(Vincent 2011 for denoising score matching; Dhariwal & Nichol 2021, sec. 4.2, eq. 11 write it as
``grad log p_theta(x_t) = -eps_theta(x_t) / sqrt(1 - alpha_bar_t)``; Ho et al. 2020, sec. 3.2,
note that their sampler "resembles Langevin dynamics with eps_theta as a learned gradient of the
data density"). So a noise predictor **is** a score model, and the score converts to and from
the other three things a network can predict (:mod:`~ddpm_tutorial.parameterizations`):

=============  ==========================================================================
prediction     as a score ``s`` at ``(x_t, t)``
=============  ==========================================================================
noise ``eps``  ``s = -eps / sqrt(1 - ab)``                          (:func:`score_from_noise`)
clean ``x0``   ``s = -(x_t - sqrt(ab) x0) / (1 - ab)``              (:func:`score_from_x0`)
``v``          ``s = -(sqrt(1 - ab) x_t + sqrt(ab) v) / sqrt(1 - ab)``  (:func:`score_from_v`)
score          ``x0 = (x_t + (1 - ab) s) / sqrt(ab)``, Tweedie's formula (:func:`x0_from_score`)
=============  ==========================================================================

The module also holds the samplers that use a score directly, and the SDE view of DDPM:

* :func:`langevin_dynamics`: ``x <- x + (step / 2) s(x) + sqrt(step) z`` (Welling & Teh 2011;
  Song & Ermon 2019, sec. 2.2), and :func:`annealed_langevin_dynamics`, their Algorithm 1 over
  a decreasing ladder of noise levels.
* :func:`probability_flow_drift` and :func:`reverse_sde_drift`: the VP SDE of Song et al.
  (2021, eq. 11), ``dx = -(1/2) beta(t) x dt + sqrt(beta(t)) dw``, which DDPM's forward process
  discretises, its reverse-time SDE (their eq. 6) and its probability-flow ODE (their eq. 13),
  written in DDPM's discrete steps:

  ========================  ==================================================================
  convention                this module
  ========================  ==================================================================
  time                      the code's step ``t``, one unit per step: ``beta(t) dt = betas[t]``
  drift                     ``dx/dt`` in forward time (toward noise)
  a reverse Euler step      ``x_{t-1} = x_t - drift``; for the SDE ``+ sqrt(betas[t]) z`` too
  ========================  ==================================================================

* :class:`GaussianMixture`: isotropic Gaussians in D dimensions whose score, class posterior
  and noised versions are known in closed form, and :class:`MixtureNoisePredictor`, the exact
  noise predictor of such data at every step: a denoiser for the book's samplers whose answers
  are right, for the 2-D toys and for tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._validation import check_same_shape, check_x_and_t
from .parameterizations import (
    Prediction,
    noise_from_v,
    noise_from_x0,
    v_from_x0_noise,
    x0_and_noise,
    x0_from_noise,
)
from .schedules import NoiseSchedule, gather_at

__all__ = [
    "GaussianMixture",
    "MixtureNoisePredictor",
    "annealed_langevin_dynamics",
    "langevin_dynamics",
    "noise_from_score",
    "probability_flow_drift",
    "reverse_sde_drift",
    "score_from_noise",
    "score_from_output",
    "score_from_v",
    "score_from_x0",
    "v_from_score",
    "x0_from_score",
]

ScoreFn = Callable[[Tensor], Tensor]


# ---------------------------------------------------------------------------- conversions
def score_from_noise(eps: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    """The score that a noise prediction implies: ``s = -eps / sqrt(1 - alpha_bars[t])``.

    Dhariwal & Nichol (2021), sec. 4.2, eq. 11. The true noise ``eps`` of one ``x_t`` gives the
    score of ``q(x_t | x0)``, ``-(x_t - sqrt(ab) x0) / (1 - ab)``; a noise predictor's
    ``E[eps | x_t]`` gives the score of the noised data ``q_t(x_t)`` itself.

    Args:
        eps: the (predicted) noise, shape (B, ...).
        t: steps, int64, shape (B,).
        schedule: the noise schedule.

    Returns:
        The score, shape of ``eps``.
    """
    check_x_and_t(eps, t, schedule, "eps")
    return -eps / (1 - gather_at(schedule.alpha_bars, t, like=eps)).sqrt()


def noise_from_score(score: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    """The noise prediction a score implies: ``eps = -sqrt(1 - alpha_bars[t]) s``.

    The inverse of :func:`score_from_noise`.

    Args:
        score: the score, shape (B, ...).
        t: steps, int64, shape (B,).
        schedule: the noise schedule.

    Returns:
        eps, shape of ``score``.
    """
    check_x_and_t(score, t, schedule, "score")
    return -(1 - gather_at(schedule.alpha_bars, t, like=score)).sqrt() * score


def score_from_x0(x_t: Tensor, t: Tensor, x0: Tensor, schedule: NoiseSchedule) -> Tensor:
    """The score a clean-image prediction implies: ``s = -(x_t - sqrt(ab) x0) / (1 - ab)``.

    Through :func:`~ddpm_tutorial.parameterizations.noise_from_x0` and
    :func:`score_from_noise`.

    Args:
        x_t: noisy images, shape (B, ...).
        t: steps, int64, shape (B,).
        x0: the (predicted) clean images, shape of ``x_t``.
        schedule: the noise schedule.

    Returns:
        The score, shape of ``x_t``.
    """
    return score_from_noise(noise_from_x0(x_t, t, x0, schedule), t, schedule)


def x0_from_score(x_t: Tensor, t: Tensor, score: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Tweedie's formula: ``E[x0 | x_t] = (x_t + (1 - ab) s) / sqrt(ab)``, ``ab = alpha_bars[t]``.

    ``x_t + (1 - ab) s`` is the mean of ``sqrt(ab) x0`` given ``x_t``: Tweedie's formula for
    a Gaussian noise of variance ``1 - ab`` (Efron 2011); dividing by ``sqrt(ab)``
    gives the clean image. Through :func:`noise_from_score` and
    :func:`~ddpm_tutorial.parameterizations.x0_from_noise`.

    Args:
        x_t: noisy images, shape (B, ...).
        t: steps, int64, shape (B,).
        score: the score at ``x_t``, shape of ``x_t``.
        schedule: the noise schedule.

    Returns:
        x0_pred, shape of ``x_t``.
    """
    check_same_shape(score, x_t, "score", "x_t")
    return x0_from_noise(x_t, t, noise_from_score(score, t, schedule), schedule)


def score_from_v(x_t: Tensor, t: Tensor, v: Tensor, schedule: NoiseSchedule) -> Tensor:
    """The score a v prediction implies (``v = sqrt(ab) eps - sqrt(1 - ab) x0``).

    ``eps = sqrt(1 - ab) x_t + sqrt(ab) v`` (Salimans & Ho 2022), then
    ``s = -eps / sqrt(1 - ab)``: through
    :func:`~ddpm_tutorial.parameterizations.noise_from_v` and :func:`score_from_noise`.

    Args:
        x_t: noisy images, shape (B, ...).
        t: steps, int64, shape (B,).
        v: the (predicted) velocity, shape of ``x_t``.
        schedule: the noise schedule.

    Returns:
        The score, shape of ``x_t``.
    """
    return score_from_noise(noise_from_v(x_t, t, v, schedule), t, schedule)


def v_from_score(x_t: Tensor, t: Tensor, score: Tensor, schedule: NoiseSchedule) -> Tensor:
    """The v prediction a score implies: the inverse of :func:`score_from_v`.

    ``eps = -sqrt(1 - ab) s``, ``x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)``, then
    ``v = sqrt(ab) eps - sqrt(1 - ab) x0``.

    Args:
        x_t: noisy images, shape (B, ...).
        t: steps, int64, shape (B,).
        score: the score at ``x_t``, shape of ``x_t``.
        schedule: the noise schedule.

    Returns:
        v, shape of ``x_t``.
    """
    check_same_shape(score, x_t, "score", "x_t")
    eps = noise_from_score(score, t, schedule)
    return v_from_x0_noise(x0_from_noise(x_t, t, eps, schedule), eps, t, schedule)


def score_from_output(
    output: Tensor,
    x_t: Tensor,
    t: Tensor,
    schedule: NoiseSchedule,
    prediction: Prediction = "eps",
) -> Tensor:
    """The score that a network's ``output`` implies, whatever it predicts.

    Args:
        output: what the network returned, shape of ``x_t``: the noise (``"eps"``), the clean
            image (``"x0"``) or v (``"v"``).
        x_t: noisy images, shape (B, ...).
        t: steps, int64, shape (B,).
        schedule: the noise schedule.
        prediction: one of :data:`~ddpm_tutorial.parameterizations.PREDICTIONS`.

    Returns:
        The score, shape of ``x_t``.
    """
    _, eps = x0_and_noise(output, x_t, t, schedule, prediction)
    return score_from_noise(eps, t, schedule)


# ---------------------------------------------------------------------------- Langevin dynamics
def _randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def _check_positive(value: float, name: str) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")


def _check_count(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def langevin_dynamics(
    score_fn: ScoreFn,
    x: Tensor,
    step_size: float,
    num_steps: int,
    *,
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Langevin dynamics: ``x <- x + (step_size / 2) score_fn(x) + sqrt(step_size) z``.

    Welling & Teh (2011); Song & Ermon (2019, sec. 2.2). With ``z ~ N(0, I)`` fresh at every
    step, the distribution of ``x`` tends to ``p`` as the step size goes to 0 and the number of
    steps to infinity, for any start; with a finite step size it is close to ``p`` but not
    equal. Modes far apart mix slowly: the relative weights of separated modes come out wrong
    (Song & Ermon 2019, sec. 3.2.2), which :func:`annealed_langevin_dynamics` repairs.

    Args:
        score_fn: ``score_fn(x)`` returns ``grad log p(x)``, shape of ``x``.
        x: the starting points, shape (B, ...).
        step_size: the step size epsilon, > 0.
        num_steps: how many steps, >= 1.
        generator: a ``torch.Generator`` for the noise z.
        return_trajectory: also return every state.

    Returns:
        The final points, shape of ``x``; with ``return_trajectory``, also a tensor of shape
        (num_steps + 1, B, ...) holding the start and each step's result.
    """
    _check_positive(step_size, "step_size")
    _check_count(num_steps, "num_steps")
    states = [x] if return_trajectory else []
    for _ in range(num_steps):
        score = score_fn(x)
        check_same_shape(score, x, "score_fn(x)", "x")
        x = x + 0.5 * step_size * score + math.sqrt(step_size) * _randn_like(x, generator)
        if return_trajectory:
            states.append(x)
    return (x, torch.stack(states)) if return_trajectory else x


def annealed_langevin_dynamics(
    score_fn: Callable[[Tensor, float], Tensor],
    x: Tensor,
    sigmas: Tensor | list[float],
    step_size: float,
    steps_per_level: int,
    *,
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Annealed Langevin dynamics, Algorithm 1 of Song & Ermon (2019).

    For each noise level ``sigma_i`` from the largest to the smallest, take ``steps_per_level``
    steps of :func:`langevin_dynamics` on ``p_sigma_i`` (the data blurred by
    ``N(0, sigma_i^2 I)``) with the step size ``alpha_i = step_size * sigma_i^2 / sigma_L^2``,
    ``sigma_L`` the smallest level; each level starts where the last one ended. Large levels
    blur the modes into one another, so points move between them in the right proportions;
    the small ones sharpen each mode.

    Args:
        score_fn: ``score_fn(x, sigma)`` returns ``grad log p_sigma(x)``, shape of ``x``.
        x: the starting points, shape (B, ...).
        sigmas: the noise levels, strictly decreasing and positive, shape (L,).
        step_size: epsilon, the step size at the smallest level, > 0.
        steps_per_level: Langevin steps at each level (their T), >= 1.
        generator: a ``torch.Generator`` for the noise.
        return_trajectory: also return every state.

    Returns:
        The final points, shape of ``x``; with ``return_trajectory``, also a tensor of shape
        (L * steps_per_level + 1, B, ...).
    """
    levels = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if levels.numel() == 0 or not bool((levels > 0).all()):
        raise ValueError(f"sigmas must be positive and non-empty; got {levels.tolist()}")
    if levels.numel() > 1 and not bool((levels[1:] < levels[:-1]).all()):
        raise ValueError(f"sigmas must be strictly decreasing; got {levels.tolist()}")
    _check_positive(step_size, "step_size")
    _check_count(steps_per_level, "steps_per_level")
    sigma_last = float(levels[-1])
    states = [x] if return_trajectory else []
    for sigma in levels.tolist():
        alpha = step_size * sigma**2 / sigma_last**2
        out = langevin_dynamics(
            lambda y, s=sigma: score_fn(y, s),
            x,
            alpha,
            steps_per_level,
            generator=generator,
            return_trajectory=return_trajectory,
        )
        if return_trajectory:
            x, path = out  # type: ignore[misc]
            states.extend(path[1:])
        else:
            x = out  # type: ignore[assignment]
    return (x, torch.stack(states)) if return_trajectory else x


# ---------------------------------------------------------------------------- the SDE view
def probability_flow_drift(
    x_t: Tensor, t: Tensor, score: Tensor, schedule: NoiseSchedule
) -> Tensor:
    """The probability-flow ODE of the VP SDE, in DDPM's steps: ``-(1/2) betas[t] (x_t + s)``.

    Song et al. (2021), eq. 13, ``dx = [f(x, t) - (1/2) g(t)^2 grad log p_t(x)] dt``, for the
    VP SDE of their eq. 11 (``f = -(1/2) beta(t) x``, ``g^2 = beta(t)``), with one unit of
    time per step of the code (``beta(t) dt = betas[t]``). Its solutions carry ``q_t`` into
    ``q_{t'}`` without noise; one Euler step toward the data is ``x_{t-1} = x_t - drift``.

    Args:
        x_t: noisy data at step ``t``, shape (B, ...).
        t: steps, int64, shape (B,).
        score: ``grad log q_t(x_t)``, shape of ``x_t``.
        schedule: the noise schedule.

    Returns:
        ``dx/dt`` per step, shape of ``x_t``.
    """
    check_x_and_t(x_t, t, schedule, "x_t")
    check_same_shape(score, x_t, "score", "x_t")
    return -0.5 * gather_at(schedule.betas, t, like=x_t) * (x_t + score)


def reverse_sde_drift(x_t: Tensor, t: Tensor, score: Tensor, schedule: NoiseSchedule) -> Tensor:
    """The drift of the reverse-time VP SDE, in DDPM's steps: ``-(1/2) betas[t] x_t - betas[t] s``.

    Song et al. (2021), eq. 6, ``dx = [f(x, t) - g(t)^2 grad log p_t(x)] dt + g(t) dw_bar``,
    for the VP SDE (eq. 11), one unit of time per step. One Euler-Maruyama step toward the
    data is ``x_{t-1} = x_t - drift + sqrt(betas[t]) z``; to first order in ``betas[t]`` it is
    the DDPM step of Algorithm 2 with ``sigma_t^2 = beta_t``.

    Args:
        x_t: noisy data at step ``t``, shape (B, ...).
        t: steps, int64, shape (B,).
        score: ``grad log q_t(x_t)``, shape of ``x_t``.
        schedule: the noise schedule.

    Returns:
        ``dx/dt`` per step (forward time), shape of ``x_t``.
    """
    check_x_and_t(x_t, t, schedule, "x_t")
    check_same_shape(score, x_t, "score", "x_t")
    beta = gather_at(schedule.betas, t, like=x_t)
    return -0.5 * beta * x_t - beta * score


# ---------------------------------------------------------------------------- a Gaussian mixture
def _mixture_log_terms(
    x: Tensor, means: Tensor, variances: Tensor, log_weights: Tensor
) -> tuple[Tensor, Tensor]:
    """Per-component ``log w_k + log N(x; m_k, v_k I)`` (B, K) and ``x - m_k`` (B, K, D).

    ``means`` is (K, D) or (B, K, D); ``variances`` and ``log_weights`` (K,) or (B, K).
    """
    D = x.shape[1]
    diff = x[:, None, :] - means  # (B, K, D)
    var = variances if variances.ndim == 2 else variances[None, :]  # (B or 1, K)
    log_normal = -0.5 * (diff**2).sum(-1) / var - 0.5 * D * torch.log(2 * math.pi * var)
    return log_weights + log_normal, diff


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """``p(x) = sum_k w_k N(x; m_k, v_k I)``: K isotropic Gaussians in D dimensions.

    Everything about it is in closed form: the density, the score
    ``grad log p(x) = sum_k r_k(x) (-(x - m_k) / v_k)`` with the responsibilities
    ``r_k(x) = p(k | x)``, the posterior of a class (each component belongs to one), and the
    mixture after noising. Build one with :meth:`create`.

    Attributes:
        means: the component means m_k, float64, shape (K, D).
        variances: the component variances v_k, float64, shape (K,), each > 0.
        weights: the mixing weights w_k, float64, shape (K,), positive, summing to 1.
        classes: the class of each component, int64, shape (K,), values in [0, C).
    """

    means: Tensor
    variances: Tensor
    weights: Tensor
    classes: Tensor

    @classmethod
    def create(
        cls,
        means: Tensor | list[list[float]],
        variances: Tensor | list[float] | float,
        weights: Tensor | list[float] | None = None,
        classes: Tensor | list[int] | None = None,
    ) -> GaussianMixture:
        """Validate and store a mixture.

        Args:
            means: (K, D).
            variances: (K,), or one number for every component.
            weights: (K,), summing to 1 (to 1e-6); None: equal weights.
            classes: (K,) class of each component; None: component k is class k.

        Raises:
            ValueError: for a wrong shape, a variance or weight that is not positive, or
                weights that do not sum to 1.
        """
        m = torch.as_tensor(means, dtype=torch.float64)
        if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
            raise ValueError(f"means must have shape (K, D); got {tuple(m.shape)}")
        K = m.shape[0]
        v = torch.as_tensor(variances, dtype=torch.float64)
        v = v.expand(K).clone() if v.ndim == 0 else v
        if v.shape != (K,) or not bool((v > 0).all()):
            raise ValueError(
                f"variances must be {K} positive numbers; got {v.tolist() if v.ndim else v}"
            )
        w = (
            torch.full((K,), 1.0 / K, dtype=torch.float64)
            if weights is None
            else torch.as_tensor(weights, dtype=torch.float64)
        )
        if w.shape != (K,) or not bool((w > 0).all()):
            raise ValueError(f"weights must be {K} positive numbers; got {w.tolist()}")
        if abs(float(w.sum()) - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1; got {w.tolist()} (sum {float(w.sum()):.6g})")
        c = (
            torch.arange(K)
            if classes is None
            else torch.as_tensor(classes, dtype=torch.long).flatten()
        )
        if c.shape != (K,) or int(c.min()) < 0:
            raise ValueError(f"classes must be {K} ints >= 0; got {c.tolist()}")
        return cls(means=m, variances=v, weights=w, classes=c)

    @property
    def num_components(self) -> int:
        """K."""
        return int(self.means.shape[0])

    @property
    def dim(self) -> int:
        """D, the dimension of a point."""
        return int(self.means.shape[1])

    @property
    def num_classes(self) -> int:
        """C = the largest class + 1."""
        return int(self.classes.max()) + 1

    def _check_points(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor; got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (B, {self.dim}); got {tuple(x.shape)}")

    def _class_mask(self, y: Tensor | None, batch: int) -> Tensor | None:
        """(B, K) True where component k belongs to class y_b; None for no condition."""
        if y is None:
            return None
        if y.shape != (batch,) or y.dtype != torch.long:
            raise ValueError(
                f"class labels must be int64 of shape ({batch},); got {y.dtype} {tuple(y.shape)}"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
            raise ValueError(f"class {bad} is out of range: classes are in [0, {self.num_classes})")
        return self.classes.to(y.device)[None, :] == y[:, None]

    def _terms(
        self, x: Tensor, means: Tensor, variances: Tensor, y: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        log_w = self.weights.to(x).log()
        log_terms, diff = _mixture_log_terms(x, means, variances, log_w)
        mask = self._class_mask(y, x.shape[0])
        if mask is not None:
            log_terms = log_terms.masked_fill(~mask.to(x.device), -math.inf)
        var = variances if variances.ndim == 2 else variances[None, :]
        return log_terms, diff, var

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``log p(x)``, or ``log p(x | y)`` given classes ``y`` (B,); shape (B,).

        Args:
            x: points, shape (B, D).
            y: optional class per point, int64, shape (B,).
        """
        self._check_points(x)
        log_terms, _, _ = self._terms(x, self.means.to(x), self.variances.to(x), y)
        out = torch.logsumexp(log_terms, dim=1)
        if y is not None:  # renormalise the class's weights
            mask = self._class_mask(y, x.shape[0]).to(x.device)  # type: ignore[union-attr]
            out = out - (self.weights.to(x)[None, :] * mask).sum(1).log()
        return out

    def score(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``grad_x log p(x)``, or ``grad_x log p(x | y)``; shape (B, D).

        ``sum_k r_k(x) (-(x - m_k) / v_k)`` with ``r_k(x) = p(k | x)`` (or ``p(k | x, y)``).

        Args:
            x: points, shape (B, D).
            y: optional class per point, int64, shape (B,).
        """
        self._check_points(x)
        return self._score(x, self.means.to(x), self.variances.to(x), y)

    def _score(self, x: Tensor, means: Tensor, variances: Tensor, y: Tensor | None) -> Tensor:
        log_terms, diff, var = self._terms(x, means, variances, y)
        resp = torch.softmax(log_terms, dim=1)  # (B, K)
        return -(resp[:, :, None] * diff / var[:, :, None]).sum(1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """``p(k | x)`` for each component, shape (B, K); each row sums to 1."""
        self._check_points(x)
        log_terms, _, _ = self._terms(x, self.means.to(x), self.variances.to(x), None)
        return torch.softmax(log_terms, dim=1)

    def class_log_probs(self, x: Tensor) -> Tensor:
        """``log p(y | x)`` for each class (Bayes' rule), shape (B, C)."""
        self._check_points(x)
        log_terms, _, _ = self._terms(x, self.means.to(x), self.variances.to(x), None)
        return self._class_posterior(log_terms)

    def _class_posterior(self, log_terms: Tensor) -> Tensor:
        """(B, C) log p(y | x) from the per-component log terms (B, K)."""
        log_norm = torch.logsumexp(log_terms, dim=1, keepdim=True)
        classes = self.classes.to(log_terms.device)
        cols = [torch.logsumexp(log_terms[:, classes == c], dim=1) for c in range(self.num_classes)]
        return torch.stack(cols, dim=1) - log_norm

    def noised(self, alpha_bar: float) -> GaussianMixture:
        """The mixture of ``x_t = sqrt(ab) x0 + sqrt(1 - ab) noise``: means ``sqrt(ab) m_k``,
        variances ``ab v_k + 1 - ab`` (Ho et al. 2020, eq. 4, applied to each component).

        Args:
            alpha_bar: ``ab`` in (0, 1].
        """
        if not 0.0 < float(alpha_bar) <= 1.0:
            raise ValueError(f"alpha_bar must lie in (0, 1]; got {float(alpha_bar)}")
        ab = float(alpha_bar)
        return GaussianMixture(
            means=math.sqrt(ab) * self.means,
            variances=ab * self.variances + (1.0 - ab),
            weights=self.weights,
            classes=self.classes,
        )

    def smoothed(self, sigma: float) -> GaussianMixture:
        """The mixture of ``x + sigma z``: variances ``v_k + sigma^2`` (Song & Ermon's
        ``p_sigma``, the data blurred by ``N(0, sigma^2 I)``).

        Args:
            sigma: the noise level, >= 0.
        """
        if not float(sigma) >= 0.0:
            raise ValueError(f"sigma must be >= 0; got {sigma}")
        return GaussianMixture(
            means=self.means,
            variances=self.variances + float(sigma) ** 2,
            weights=self.weights,
            classes=self.classes,
        )

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` points and the component each came from.

        Returns:
            ``(x, component)``: float32 points (n, D) and int64 components (n,); the class of
            each point is ``classes[component]``.
        """
        _check_count(n, "n")
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = self.means[component] + self.variances[component, None].sqrt() * noise
        return x.float(), component


class MixtureNoisePredictor:
    """The exact noise predictor of :class:`GaussianMixture` data, as a denoiser.

    ``model(x_t, t)`` returns ``E[noise | x_t] = -sqrt(1 - ab) grad log q_t(x_t)`` for the
    mixture noised to ``ab = alpha_bars[t]`` (each example its own ``t``); ``model(x_t, t, y)``
    the same for the data of class ``y`` (int64, shape (B,)), and ``model(x_t, t, None)`` the
    unconditional one, so the samplers' classifier-free guidance works unchanged. This is the
    network that training would reach if it were perfect: a reference for samplers.

    Args:
        mixture: the data distribution.
        schedule: the noise schedule.
    """

    def __init__(self, mixture: GaussianMixture, schedule: NoiseSchedule) -> None:
        if not isinstance(mixture, GaussianMixture):
            raise TypeError(f"mixture must be a GaussianMixture; got {type(mixture).__name__}")
        self.mixture, self.schedule = mixture, schedule

    def score(self, x_t: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """``grad log q_t(x_t)`` (or ``grad log q_t(x_t | y)``), shape (B, D)."""
        check_x_and_t(x_t, t, self.schedule, "x_t")
        self.mixture._check_points(x_t)
        means, variances = self._noised_parameters(x_t, t)
        return self.mixture._score(x_t, means, variances, y)

    def class_log_probs(self, x_t: Tensor, t: Tensor) -> Tensor:
        """``log q_t(y | x_t)`` for each class: the exact noisy classifier, shape (B, C).

        Its gradient in ``x_t`` is what classifier guidance adds to the score (Dhariwal &
        Nichol 2021, sec. 4); call it as a classifier, ``log_probs = exact(x_t, t)``.
        """
        check_x_and_t(x_t, t, self.schedule, "x_t")
        self.mixture._check_points(x_t)
        means, variances = self._noised_parameters(x_t, t)
        log_terms, _, _ = self.mixture._terms(x_t, means, variances, None)
        return self.mixture._class_posterior(log_terms)

    def _noised_parameters(self, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Per-example means (B, K, D) and variances (B, K) of the mixture noised to step t."""
        ab = self.schedule.alpha_bars.to(x_t.device)[t].to(x_t.dtype)  # (B,)
        means = ab.sqrt()[:, None, None] * self.mixture.means.to(x_t)[None]
        variances = ab[:, None] * self.mixture.variances.to(x_t)[None] + (1 - ab)[:, None]
        return means, variances

    def __call__(self, x_t: Tensor, t: Tensor, cond: Any = None) -> Tensor:
        """``E[noise | x_t (, y)]``, shape (B, D)."""
        return noise_from_score(self.score(x_t, t, cond), t, self.schedule)
