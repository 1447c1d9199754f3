"""Checkers for the training chapter: the steps, the target, the loss, one training step.

Each checker runs the reader's function on a tiny fixed input (a few 4x4 images and a tiny
denoiser whose weights come from a fixed seed), compares it with the package's reference
(:func:`ddpm_tutorial.losses.noise_prediction_loss`, Algorithm 1 of Ho et al. 2020), prints
``<name> passed``, or raises ``AssertionError`` with a sentence that says what differs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..forward_process import add_noise
from ..losses import noise_prediction_loss
from ..schedules import NoiseSchedule, gather_at
from ._common import Mistake, as_scalar, as_tensor, call_reader, compare, fail, passed

__all__ = ["check_sample_t_range", "check_make_target", "check_loss", "check_training_step"]


class _TinyDenoiser(nn.Module):
    """A 3x3 convolution plus a learned bias per step: small, fast, and it depends on t."""

    def __init__(self, num_steps: int, seed: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.step_bias = nn.Embedding(num_steps, 1)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        return self.conv(x_t) + self.step_bias(t).view(-1, 1, 1, 1)


def _setup(seed: int, num_steps: int = 1000) -> tuple[_TinyDenoiser, Tensor, NoiseSchedule]:
    """A tiny denoiser, a batch x0 of shape (8, 1, 4, 4) in [-1, 1], and a linear schedule."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(8, 1, 4, 4, generator=g) * 2 - 1
    return _TinyDenoiser(num_steps, seed), x0, NoiseSchedule.linear(num_steps)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- the steps
def check_sample_t_range(candidate: Callable[..., Tensor]) -> None:
    """Check ``candidate(batch_size, num_steps, generator) -> t``: uniform int64 steps in [0, T).

    Steps are 0-based: ``t = 0`` is the least noisy step and ``t = T - 1`` the noisiest, so
    every value in ``{0, ..., T - 1}`` must come up, about equally often, and nothing else.
    """
    name = "check_sample_t_range"
    T, n = 10, 5000
    t = call_reader(name, candidate, n, T, _seeded(0))
    if not isinstance(t, Tensor):
        fail(name, f"t should be a torch.Tensor; got {type(t).__name__}")
    if t.shape != (n,):
        fail(name, f"t should have shape (batch_size,) = ({n},); got {tuple(t.shape)}")
    if t.dtype != torch.long:
        fail(
            name,
            f"t should hold integer steps (torch.int64) to index the schedule; got {t.dtype}",
        )
    lo, hi = int(t.min()), int(t.max())
    if hi == T:
        fail(
            name,
            f"with T = {T} you drew t = {T}, which is out of range. Steps are 0-based (the "
            "paper's 1..T is the code's 0..T-1): use torch.randint(0, T, ...).",
        )
    if lo < 0 or hi > T:
        fail(name, f"with T = {T} the steps must lie in [0, {T}); got [{lo}, {hi}]")
    counts = torch.bincount(t, minlength=T)
    if counts[0] == 0:
        fail(
            name,
            f"with T = {T}, t = 0 never came up in {n} draws; the least noisy step must be "
            "trained too (torch.randint(0, T, ...) includes 0).",
        )
    if counts[T - 1] == 0:
        fail(
            name,
            f"with T = {T}, t = {T - 1} never came up in {n} draws; the upper bound of "
            "torch.randint is exclusive, so use torch.randint(0, T, ...).",
        )
    expected = n / T
    worst = int((counts.double() - expected).abs().argmax())
    if abs(counts[worst].item() - expected) > 5 * (expected * (1 - 1 / T)) ** 0.5:
        fail(
            name,
            f"the steps are not uniform: t = {worst} came up {int(counts[worst])} times in {n} "
            f"draws, where about {expected:.0f} were expected. Algorithm 1 draws t uniformly.",
        )
    passed(name)


# ---------------------------------------------------------------------------- the target
def check_make_target(candidate: Callable[[Tensor, Tensor, Tensor, NoiseSchedule], Any]) -> None:
    """Check ``candidate(x0, t, noise, schedule) -> (x_t, target)``: the input and the label.

    The network's input is ``x_t = add_noise(x0, t, noise, schedule)`` and its target is the
    noise we added, not the clean image.
    """
    name = "check_make_target"
    g = _seeded(3)
    schedule = NoiseSchedule.linear(1000)
    x0 = torch.rand(5, 1, 4, 4, generator=g) * 2 - 1
    t = torch.tensor([0, 3, 300, 700, 999])
    noise = torch.randn(x0.shape, generator=g)
    out = call_reader(name, candidate, x0, t, noise, schedule)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(name, f"return a pair (x_t, target); got {type(out).__name__}")
    x_t = as_tensor(name, out[0], "x_t (the first returned value)")
    target = as_tensor(name, out[1], "the target (the second returned value)")
    expected_x_t = add_noise(x0, t, noise, schedule)
    ab = gather_at(schedule.alpha_bars, t, like=x0)
    input_mistakes = [
        (
            x0,
            "It is x0 itself: the input must be the noisy image add_noise(x0, t, noise, schedule).",
        ),
        (noise, "It is the noise alone: the input must mix x0 and the noise."),
        (
            ab * x0 + (1 - ab) * noise,
            "It is alpha_bar x0 + (1 - alpha_bar) noise: the square roots are missing.",
        ),
    ]
    compare(name, x_t, expected_x_t, "x_t", mistakes=input_mistakes)
    target_mistakes = [
        (x0, "It is x0: the target is the noise we added, not the clean image."),
        (expected_x_t, "It is x_t: the target is the noise we added, not the noisy input."),
        (
            (1 - ab).sqrt() * noise,
            "It is the scaled noise sqrt(1 - alpha_bar_t) noise: use the noise itself.",
        ),
    ]
    compare(name, target, noise, "the target", mistakes=target_mistakes)
    passed(name)


# ---------------------------------------------------------------------------- the loss
def _wrong_losses(
    model: nn.Module, x0: Tensor, schedule: NoiseSchedule, seed: int
) -> list[Mistake]:
    """The losses (scalars) that common mistakes give, drawn from a generator of the same seed.

    ``x0`` has shape (B, 1, 4, 4); ``model(x_t, t)`` returns the predicted noise, shape of x0.
    """
    T, B = schedule.num_steps, x0.shape[0]
    g = _seeded(seed)
    t = torch.randint(0, T, (B,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    g = _seeded(seed)
    noise_first = torch.randn(x0.shape, generator=g)
    t_second = torch.randint(0, T, (B,), generator=g)
    ab = gather_at(schedule.alpha_bars, t, like=x0)
    a = gather_at(schedule.alphas, t, like=x0)
    t1 = (t + 1).clamp(max=T - 1)  # what randint(1, T + 1) draws from the same generator
    x_t = add_noise(x0, t, noise, schedule)
    with torch.no_grad():
        return [
            (
                F.mse_loss(model(x_t, t), x0),
                "It matches a loss whose target is x0: the target is the noise.",
            ),
            (
                F.mse_loss(model(x_t, t), noise, reduction="sum"),
                "It matches a summed squared error: take the mean (F.mse_loss).",
            ),
            (
                F.mse_loss(model(ab * x0 + (1 - ab) * noise, t), noise),
                "It matches a loss on x_t without the square roots: "
                "x_t = sqrt(ab) x0 + sqrt(1 - ab) noise.",
            ),
            (
                F.mse_loss(model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t), noise),
                "It matches a loss on x_t made with alpha_t instead of alpha_bar_t.",
            ),
            (
                F.mse_loss(model(add_noise(x0, t1, noise, schedule), t1), noise),
                "It matches a loss with t in 1..T: steps are 0-based, draw torch.randint(0, T, ...).",
            ),
            (
                F.mse_loss(
                    model(add_noise(x0, t_second, noise_first, schedule), t_second), noise_first
                ),
                "It matches a loss that draws the noise before t: draw t first, then the noise.",
            ),
        ]


def check_loss(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(model, x0, schedule, generator) -> loss`` against the reference.

    The reference is :func:`ddpm_tutorial.losses.noise_prediction_loss` with a generator of the
    same seed: draw ``t = torch.randint(0, T, (B,), generator=generator)`` first, then
    ``noise = torch.randn(x0.shape, generator=generator)``, make ``x_t`` with ``add_noise``
    and return ``F.mse_loss(model(x_t, t), noise)``.
    """
    name = "check_loss"
    model, x0, schedule = _setup(seed=5)
    seed = 11
    loss = call_reader(name, candidate, model, x0, schedule, _seeded(seed))
    actual = as_scalar(name, loss, "the loss")
    with torch.no_grad():
        expected = noise_prediction_loss(model, x0, schedule, generator=_seeded(seed))
    mistakes = _wrong_losses(model, x0, schedule, seed)
    compare(name, actual, expected, "the loss", mistakes=mistakes, rtol=1e-4)
    passed(name)


# ---------------------------------------------------------------------------- one training step
def check_training_step(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(model, x0, schedule, optimizer, generator) -> loss``, one training step.

    Runs two steps of the reader's function and two of the reference (the loss of
    :func:`~ddpm_tutorial.losses.noise_prediction_loss`, ``zero_grad``, ``backward``,
    ``step``) on copies of one tiny model with SGD, and compares the losses and the weights.
    """
    name = "check_training_step"
    model, x0, schedule = _setup(seed=7)
    mine, ref = copy.deepcopy(model), copy.deepcopy(model)
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.1)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1)
    for k, seed in enumerate((21, 22)):
        step = f"step {k + 1}"
        out = call_reader(name, candidate, mine, x0, schedule, opt_mine, _seeded(seed))
        loss = as_scalar(name, out, f"the loss of {step}")
        mistakes = _wrong_losses(ref, x0, schedule, seed) if k == 0 else []
        expected = noise_prediction_loss(ref, x0, schedule, generator=_seeded(seed))
        opt_ref.zero_grad(set_to_none=True)
        expected.backward()
        opt_ref.step()
        compare(name, loss, expected.detach(), f"the loss of {step}", mistakes=mistakes, rtol=1e-4)
        params = zip(mine.parameters(), model.parameters(), strict=True)
        if all(torch.equal(p, q) for p, q in params):
            fail(
                name,
                f"the weights did not change in {step}; call loss.backward() and optimizer.step().",
            )
        hint = (
            "Did you forget optimizer.zero_grad()? Without it the gradients of step 1 are added "
            "to those of step 2."
            if k == 1
            else ""
        )
        for (pname, p), q in zip(mine.named_parameters(), ref.parameters(), strict=True):
            what = f"after {step}, the weight tensor {pname!r}"
            compare(name, as_tensor(name, p, what), q.detach(), what, hint=hint, rtol=1e-4)
    passed(name)
