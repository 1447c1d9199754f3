"""Three equivalent things a denoiser can predict: the noise, the clean image, or v.

Given ``x_t = sqrt(ab) x0 + sqrt(1 - ab) noise`` with ``ab = alpha_bars[t]``, any one of
``noise``, ``x0`` and ``v = sqrt(ab) noise - sqrt(1 - ab) x0`` (Salimans & Ho 2022, section 4)
determines the other two. Most of the book's models predict the noise (Ho et al. 2020, eq. 11);
unCLIP's prior predicts the clean embedding (Ramesh et al. 2022, sec. 2.2). These conversions
give the predicted clean image that samplers clip and that figures show, and
:func:`x0_and_noise` lets one sampler serve a network of any :data:`PREDICTIONS` kind.
"""

from __future__ import annotations

from typing import Literal, get_args

from torch import Tensor

from ._validation import check_same_shape, check_x_and_t
from .schedules import NoiseSchedule, gather_at

__all__ = [
    "PREDICTIONS",
    "Prediction",
    "x0_and_noise",
    "x0_from_noise",
    "noise_from_x0",
    "v_from_x0_noise",
    "x0_from_v",
    "noise_from_v",
]

#: what a network predicts: the noise ("eps"), the clean image ("x0") or the velocity ("v")
Prediction = Literal["eps", "x0", "v"]
PREDICTIONS: tuple[str, ...] = get_args(Prediction)


def _coefs(x_t: Tensor, t: Tensor, schedule: NoiseSchedule) -> tuple[Tensor, Tensor]:
    ab = gather_at(schedule.alpha_bars, t, like=x_t)
    return ab.sqrt(), (1 - ab).sqrt()


def x0_from_noise(x_t: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Clean image implied by a noise prediction (Ho et al. 2020, eq. 15, rearranged).

    ``x0 = (x_t - sqrt(1 - alpha_bars[t]) noise) / sqrt(alpha_bars[t])``

    Args:
        x_t: noisy images, shape (B, ...).
        t: steps, int64, shape (B,).
        noise: the (predicted) noise, shape of ``x_t``.

    Returns:
        x0_pred, shape of ``x_t``.
    """
    check_x_and_t(x_t, t, schedule, "x_t")
    check_same_shape(noise, x_t, "noise", "x_t")
    sqrt_ab, sqrt_one_minus_ab = _coefs(x_t, t, schedule)
    return (x_t - sqrt_one_minus_ab * noise) / sqrt_ab


def noise_from_x0(x_t: Tensor, t: Tensor, x0: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Noise implied by a clean-image prediction: the inverse of :func:`x0_from_noise`.

    ``noise = (x_t - sqrt(alpha_bars[t]) x0) / sqrt(1 - alpha_bars[t])``
    """
    check_x_and_t(x_t, t, schedule, "x_t")
    check_same_shape(x0, x_t, "x0", "x_t")
    sqrt_ab, sqrt_one_minus_ab = _coefs(x_t, t, schedule)
    return (x_t - sqrt_ab * x0) / sqrt_one_minus_ab


def v_from_x0_noise(x0: Tensor, noise: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    """The velocity target ``v = sqrt(alpha_bars[t]) noise - sqrt(1 - alpha_bars[t]) x0``.

    Salimans & Ho (2022), section 4 and appendix D.
    """
    check_x_and_t(x0, t, schedule, "x0")
    check_same_shape(noise, x0, "noise", "x0")
    sqrt_ab, sqrt_one_minus_ab = _coefs(x0, t, schedule)
    return sqrt_ab * noise - sqrt_one_minus_ab * x0


def x0_from_v(x_t: Tensor, t: Tensor, v: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Clean image implied by a v prediction: ``x0 = sqrt(ab) x_t - sqrt(1 - ab) v``."""
    check_x_and_t(x_t, t, schedule, "x_t")
    check_same_shape(v, x_t, "v", "x_t")
    sqrt_ab, sqrt_one_minus_ab = _coefs(x_t, t, schedule)
    return sqrt_ab * x_t - sqrt_one_minus_ab * v


def noise_from_v(x_t: Tensor, t: Tensor, v: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Noise implied by a v prediction: ``noise = sqrt(1 - ab) x_t + sqrt(ab) v``."""
    check_x_and_t(x_t, t, schedule, "x_t")
    check_same_shape(v, x_t, "v", "x_t")
    sqrt_ab, sqrt_one_minus_ab = _coefs(x_t, t, schedule)
    return sqrt_one_minus_ab * x_t + sqrt_ab * v


def x0_and_noise(
    output: Tensor, x_t: Tensor, t: Tensor, schedule: NoiseSchedule, prediction: Prediction = "eps"
) -> tuple[Tensor, Tensor]:
    """The clean image and the noise that a network's ``output`` implies.

    Args:
        output: what the network returned, shape of ``x_t``: the noise for ``"eps"``, the
            clean image for ``"x0"``, v for ``"v"``.
        x_t: noisy images, shape (B, ...).
        t: steps, int64, shape (B,).
        prediction: one of :data:`PREDICTIONS`.

    Returns:
        ``(x0_pred, eps_pred)``, each of the shape of ``x_t``; the one the network predicted is
        ``output`` itself.
    """
    if prediction == "eps":
        return x0_from_noise(x_t, t, output, schedule), output
    if prediction == "x0":
        return output, noise_from_x0(x_t, t, output, schedule)
    if prediction == "v":
        return x0_from_v(x_t, t, output, schedule), noise_from_v(x_t, t, output, schedule)
    raise ValueError(f"unknown prediction {prediction!r}; choose one of {', '.join(PREDICTIONS)}")
