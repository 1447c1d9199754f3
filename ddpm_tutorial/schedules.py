"""Noise schedules: the per-step coefficients of the forward process.

A schedule is data. :class:`NoiseSchedule` holds, for every step ``t`` in ``[0, T)``
(0-based: the code's ``t`` is the paper's ``t + 1``), the variance ``betas[t]`` of the noise
added at that step and every quantity derived from it. Everything is computed once, in
float64, when the schedule is built; :func:`gather_at` picks per-example values and casts
them to the dtype of the images.

Notation (Ho et al. 2020, section 2):

* ``alphas[t] = 1 - betas[t]``
* ``alpha_bars[t] = prod_{i <= t} alphas[i]``                           (eq. 4)
* ``alpha_bars_prev[t] = alpha_bars[t - 1]``, with ``alpha_bars_prev[0] = 1``
* ``posterior_variance[t] = betas[t] (1 - alpha_bars_prev[t]) / (1 - alpha_bars[t])``  (eq. 7)
* ``snr[t] = alpha_bars[t] / (1 - alpha_bars[t])``                       (Kingma et al. 2021)

:func:`rescale_zero_terminal_snr` shifts and scales a schedule so that its last step carries
no signal at all (``alpha_bars[T-1] = 0``), as Lin et al. (2024, Algorithm 1) propose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["NoiseSchedule", "gather_at", "rescale_zero_terminal_snr", "SCHEDULE_KINDS"]

SCHEDULE_KINDS = ("linear", "cosine", "sigmoid")


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """Per-step coefficients of the forward process, each a float64 tensor of shape (T,).

    Build one with :meth:`linear`, :meth:`cosine`, :meth:`sigmoid`, :meth:`from_betas` or
    :meth:`from_name`; never mutate it (the dataclass is frozen and no method changes it).
    """

    betas: Tensor
    alphas: Tensor
    alpha_bars: Tensor
    alpha_bars_prev: Tensor
    posterior_variance: Tensor
    posterior_mean_coef_x0: Tensor
    posterior_mean_coef_x_t: Tensor
    snr: Tensor
    kind: str = field(default="custom", compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_betas(
        cls, betas: Tensor, kind: str = "custom", *, allow_terminal_one: bool = False
    ) -> NoiseSchedule:
        """Build a schedule from the variances ``betas`` of shape (T,), each in (0, 1).

        Args:
            betas: the variances, shape (T,).
            kind: a name for the schedule, shown by ``repr``.
            allow_terminal_one: also accept ``betas[T-1] = 1`` exactly, the last beta of a
                schedule with zero terminal SNR (:func:`rescale_zero_terminal_snr`); then
                ``alpha_bars[T-1] = 0`` and ``snr[T-1] = 0``. Every other beta must still lie
                in (0, 1).

        Raises:
            TypeError: if ``betas`` is not a floating-point tensor.
            ValueError: if ``betas`` is not 1-D and non-empty, or a value lies outside (0, 1)
                (the last may be 1 with ``allow_terminal_one=True``).
        """
        if not isinstance(betas, Tensor):
            raise TypeError(f"betas must be a torch.Tensor; got {type(betas).__name__}")
        if not betas.is_floating_point():
            raise TypeError(f"betas must be a floating-point tensor; got dtype {betas.dtype}")
        if betas.ndim != 1 or betas.numel() == 0:
            raise ValueError(f"betas must be 1-D and non-empty; got shape {tuple(betas.shape)}")
        betas = betas.detach().to(device="cpu", dtype=torch.float64)
        bad = ~((betas > 0) & (betas < 1))
        if allow_terminal_one and float(betas[-1]) == 1.0:
            bad[-1] = False
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise ValueError(
                f"every beta must lie in (0, 1); betas[{i}] = {betas[i].item():.6g} does not"
            )
        alphas = 1.0 - betas
        alpha_bars = torch.cumprod(alphas, dim=0)
        alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bars[:-1]])
        one_minus = 1.0 - alpha_bars
        return cls(
            betas=betas,
            alphas=alphas,
            alpha_bars=alpha_bars,
            alpha_bars_prev=alpha_bars_prev,
            posterior_variance=betas * (1.0 - alpha_bars_prev) / one_minus,
            posterior_mean_coef_x0=betas * alpha_bars_prev.sqrt() / one_minus,
            posterior_mean_coef_x_t=(1.0 - alpha_bars_prev) * alphas.sqrt() / one_minus,
            snr=alpha_bars / one_minus,
            kind=kind,
        )

    @classmethod
    def linear(
        cls,
        num_steps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        *,
        scale_to_num_steps: bool = True,
    ) -> NoiseSchedule:
        """Betas spaced evenly from ``beta_start`` to ``beta_end`` (Ho et al. 2020, section 4).

        The paper's values, 1e-4 to 0.02, were chosen for T = 1000. With fewer steps the same
        betas no longer reach noise: at T = 50 they leave ``alpha_bars[-1] = 0.6``, so the
        "pure noise" that sampling starts from is not what training saw. With
        ``scale_to_num_steps=True`` (the default) both ends are multiplied by ``1000 / T``, as
        in Nichol & Dhariwal (2021, their code's ``get_named_beta_schedule``), which keeps
        the total amount of noise about the same for any T (T = 1000 is unchanged).
        Scaled values are capped at 0.999 so that every beta stays below 1.

        Args:
            num_steps: T, the number of diffusion steps, at least 1.
            beta_start: beta of the first step, for T = 1000.
            beta_end: beta of the last step, for T = 1000.
            scale_to_num_steps: rescale both ends by 1000 / T (see above).
        """
        _check_num_steps(num_steps)
        scale = 1000.0 / num_steps if scale_to_num_steps else 1.0
        start, end = min(beta_start * scale, 0.999), min(beta_end * scale, 0.999)
        betas = torch.linspace(start, end, num_steps, dtype=torch.float64)
        return cls.from_betas(betas, kind="linear")

    @classmethod
    def cosine(
        cls, num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999
    ) -> NoiseSchedule:
        """The cosine schedule of Nichol & Dhariwal (2021, eq. 17).

        ``alpha_bar(u) = f(u) / f(0)`` with ``f(u) = cos(((u + s) / (1 + s)) * pi / 2)^2`` for
        u = t / T; ``betas[t] = 1 - alpha_bar((t + 1) / T) / alpha_bar(t / T)``, clipped at
        ``max_beta`` to avoid the singularity at u = 1.
        """
        _check_num_steps(num_steps)
        u = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)
        return cls.from_betas(betas, kind="cosine")

    @classmethod
    def sigmoid(
        cls,
        num_steps: int = 1000,
        start: float = -3.0,
        end: float = 3.0,
        tau: float = 1.0,
        max_beta: float = 0.999,
    ) -> NoiseSchedule:
        """The sigmoid schedule of Jabri et al. (2023) and Chen (2023, algorithm 1).

        Jabri et al. is the ICML 2023 paper (PMLR 202), first posted on arXiv in December 2022
        (arXiv:2212.11972); the book cites it by its venue year, as ``jabri2023rin``.

        ``alpha_bar(u) = (sigmoid(end / tau) - sigmoid((u (end - start) + start) / tau))
        / (sigmoid(end / tau) - sigmoid(start / tau))`` for u = t / T, turned into betas as in
        :meth:`cosine` and clipped at ``max_beta``. ``start``, ``end`` and ``tau`` move where
        along the T steps the noise level changes fastest; Chen (2023) finds that the best
        setting depends on the image resolution.
        """
        _check_num_steps(num_steps)
        if not end > start:
            raise ValueError(f"sigmoid schedule needs end > start; got start={start}, end={end}")
        if not tau > 0:
            raise ValueError(f"sigmoid schedule needs tau > 0; got tau={tau}")
        u = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        v_start = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64))
        v_end = torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))
        v = torch.sigmoid((u * (end - start) + start) / tau)
        alpha_bar = ((v_end - v) / (v_end - v_start)).clamp(min=1e-9)
        betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(min=1e-8, max=max_beta)
        return cls.from_betas(betas, kind="sigmoid")

    @classmethod
    def from_name(cls, kind: str, num_steps: int = 1000) -> NoiseSchedule:
        """Build a built-in schedule by name: ``"linear"``, ``"cosine"`` or ``"sigmoid"``."""
        if kind not in SCHEDULE_KINDS:
            raise ValueError(
                f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULE_KINDS)}"
            )
        return getattr(cls, kind)(num_steps=num_steps)

    # ------------------------------------------------------------------ views
    @property
    def num_steps(self) -> int:
        """T, the number of diffusion steps."""
        return int(self.betas.shape[0])

    @property
    def log_snr(self) -> Tensor:
        """log(alpha_bars / (1 - alpha_bars)), shape (T,)."""
        return self.snr.log()

    def check_steps(self, t: Tensor, batch_size: int | None = None) -> None:
        """Raise a readable error unless ``t`` is an int64 tensor of steps in [0, T).

        Args:
            t: steps, shape (B,).
            batch_size: if given, the B that ``t`` must match.
        """
        if not isinstance(t, Tensor):
            raise TypeError(f"t must be a torch.Tensor of int64 steps; got {type(t).__name__}")
        if t.dtype != torch.long:
            raise TypeError(
                f"t must hold integer steps (torch.int64); got dtype {t.dtype}. "
                "Steps are 0-based indices into the schedule, not fractions."
            )
        if t.ndim != 1:
            raise ValueError(f"t must have shape (B,); got shape {tuple(t.shape)}")
        if batch_size is not None and t.shape[0] != batch_size:
            raise ValueError(f"t holds {t.shape[0]} steps but the batch has {batch_size} examples")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_steps):
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise ValueError(
                f"step t = {bad} is out of range: steps are 0-based in [0, {self.num_steps})"
            )

    def __eq__(self, other: object) -> bool:
        """Equal when the betas are equal (every other table is derived from them)."""
        if not isinstance(other, NoiseSchedule):
            return NotImplemented
        return torch.equal(self.betas, other.betas)

    def __hash__(self) -> int:
        return hash(self.betas.numpy().tobytes())

    def __repr__(self) -> str:
        return (
            f"NoiseSchedule(kind={self.kind!r}, num_steps={self.num_steps}, "
            f"beta[0]={self.betas[0].item():.3g}, beta[T-1]={self.betas[-1].item():.3g}, "
            f"alpha_bar[T-1]={self.alpha_bars[-1].item():.3g})"
        )


def rescale_zero_terminal_snr(schedule: NoiseSchedule) -> NoiseSchedule:
    """The schedule with zero terminal SNR: Lin et al. (2024, sec. 3.1, Algorithm 1).

    Common schedules leave some signal at the last step (the book's linear one with T = 1000
    keeps ``alpha_bars[T-1] = 4.0e-5``, so ``x_{T-1}`` still holds ``sqrt(4.0e-5) x0``), yet
    sampling starts from pure noise. Algorithm 1 shifts ``sqrt(alpha_bars)`` so that its last value is
    0 and scales it so that its first value is unchanged::

        a = sqrt(alpha_bars);  a <- (a - a[T-1]) * a[0] / (a[0] - a[T-1])
        alpha_bars = a^2;  alphas[t] = alpha_bars[t] / alpha_bars[t-1];  betas = 1 - alphas

    so ``betas[T-1] = 1`` and ``alpha_bars[T-1] = 0`` exactly (the schedule is built with
    ``from_betas(..., allow_terminal_one=True)``).

    At ``alpha_bars = 0`` a network that predicts the noise tells the sampler nothing about the
    image: its input ``x_{T-1}`` is the noise itself, and the clean image it implies,
    ``x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)``, divides by 0 (and for the
    exact noise, ``eps = x_t``, it is 0 / 0). An
    eps-predicting network therefore cannot be sampled from pure noise at zero SNR, which is
    why Lin et al. train with v-prediction instead (sec. 3.2): ``x0 = sqrt(alpha_bar) x_t -
    sqrt(1 - alpha_bar) v = -v`` stays defined (``sample_ddim(..., prediction="v")``).

    Args:
        schedule: any schedule with ``T >= 2``.

    Returns:
        A new schedule, ``kind`` suffixed with ``"+zero-snr"``; ``schedule`` is unchanged.
    """
    if schedule.num_steps < 2:
        raise ValueError(
            f"zero terminal SNR needs at least 2 steps to rescale; got T = {schedule.num_steps}"
        )
    a = schedule.alpha_bars.sqrt()
    a_first, a_last = a[0].clone(), a[-1].clone()
    a = (a - a_last) * a_first / (a_first - a_last)
    alpha_bars = a**2
    alphas = torch.cat([alpha_bars[:1], alpha_bars[1:] / alpha_bars[:-1]])
    return NoiseSchedule.from_betas(
        1.0 - alphas, kind=f"{schedule.kind}+zero-snr", allow_terminal_one=True
    )


def gather_at(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """Pick ``values[t]`` per example, shaped (B, 1, ..., 1) to broadcast against ``like``.

    Args:
        values: a per-step table, shape (T,), for example ``schedule.alpha_bars``.
        t: steps, int64, shape (B,), on any device.
        like: the tensor to broadcast against, shape (B, ...); sets device and dtype.

    Returns:
        Tensor of shape (B, 1, ..., 1) with ``like.ndim`` dimensions.
    """
    if (
        t.numel()
        and t.device.type != "meta"
        and (int(t.min()) < 0 or int(t.max()) >= values.shape[0])
    ):
        bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
        raise ValueError(
            f"step t = {bad} is out of range: steps are 0-based in [0, {values.shape[0]})"
        )
    picked = values.to(device=t.device)[t]
    return picked.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def _check_num_steps(num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"num_steps must be an int; got {num_steps!r}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be at least 1; got {num_steps}")
