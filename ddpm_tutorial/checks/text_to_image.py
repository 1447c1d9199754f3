"""Checkers for the text-to-image chapter: guidance, caption dropout, a measured attribute.

Each checker runs the reader's function on a small fixed input, compares it with the
package's reference (:func:`ddpm_tutorial.reverse_process.guided_noise`,
:func:`ddpm_tutorial.losses.noise_prediction_loss`'s dropout,
:func:`ddpm_tutorial.data.captions.measure_attributes`), prints ``<name> passed``, or
raises ``AssertionError`` with a sentence that says what differs and, for the usual mistakes,
which one it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..data.captions import measure_attributes
from ..data.mnist import load_mnist
from ._common import as_tensor, call_reader, compare, fail, passed

__all__ = ["check_guidance", "check_caption_dropout", "check_stroke_width"]


def check_guidance(candidate: Callable[[Tensor, Tensor, float], Tensor]) -> None:
    """Check ``candidate(eps_cond, eps_uncond, w)``: classifier-free guidance.

    The book's convention (Ho & Salimans 2022, eq. 6 with ``w = 1 + their w``):
    ``eps = eps_uncond + w (eps_cond - eps_uncond)``; ``w = 1`` is the conditional prediction
    alone, ``w = 0`` the unconditional one.
    """
    name = "check_guidance"
    g = torch.Generator().manual_seed(0)
    eps_c = torch.randn(4, 1, 6, 6, generator=g, dtype=torch.float64)
    eps_u = torch.randn(4, 1, 6, 6, generator=g, dtype=torch.float64)
    for w in (0.0, 1.0, 3.0, 7.5):
        what = f"at w = {w}, the guided noise"
        actual = as_tensor(name, call_reader(name, candidate, eps_c, eps_u, w), what)
        expected = eps_u + w * (eps_c - eps_u)
        mistakes = [
            (
                eps_c + w * (eps_c - eps_u),
                "That is Ho & Salimans' own convention, (1 + w) eps_c - w eps_u; "
                "the book's w is theirs plus one, so that w = 1 means no guidance.",
            ),
            (
                eps_c + w * (eps_u - eps_c),
                "The difference points the wrong way: guidance moves away "
                "from the unconditional prediction, toward the conditional one.",
            ),
            (
                w * eps_c,
                "Scaling eps_cond alone is not guidance: the unconditional prediction is missing.",
            ),
            (
                eps_u + w * eps_c,
                "Add w times the difference eps_cond - eps_uncond, not w times eps_cond.",
            ),
        ]
        compare(name, actual, expected, what, mistakes=mistakes, rtol=1e-6, atol=1e-8)
    passed(name)


def check_caption_dropout(candidate: Callable[[int, float, torch.Generator], Tensor]) -> None:
    """Check ``candidate(batch_size, drop_prob, generator) -> keep``: a (B,) bool mask.

    ``keep[b]`` is False (the caption is replaced by "no text") with probability
    ``drop_prob``, independently per example. This is what lets one network learn both the
    conditional and the unconditional prediction that guidance needs.
    """
    name = "check_caption_dropout"
    n = 20_000
    for p in (0.0, 0.1, 0.5, 1.0):
        keep = call_reader(name, candidate, n, p, torch.Generator().manual_seed(1))
        if not isinstance(keep, Tensor) or keep.dtype != torch.bool or keep.shape != (n,):
            got = (
                f"{keep.dtype} {tuple(keep.shape)}"
                if isinstance(keep, Tensor)
                else type(keep).__name__
            )
            fail(name, f"keep should be a bool tensor of shape ({n},); got {got}")
        dropped = 1 - float(keep.double().mean())
        if abs(dropped - p) > 0.015:
            hint = (
                " Did you return the dropped examples instead of the kept ones?"
                if abs(dropped - (1 - p)) < 0.015
                else ""
            )
            fail(name, f"with drop_prob = {p}, {dropped:.3f} of the captions were dropped.{hint}")
    keep = call_reader(name, candidate, n, 0.5, torch.Generator().manual_seed(2))
    runs = int((keep[1:] != keep[:-1]).sum())
    if runs < 0.4 * n:  # independent coin flips change about every other example
        fail(
            name,
            f"the kept examples come in long runs ({runs} changes in {n}); "
            "drop each example independently",
        )
    passed(name)


def check_stroke_width(candidate: Callable[[Tensor], Tensor]) -> None:
    """Check ``candidate(images) -> width``: the mean stroke width ``2 * ink_area / perimeter``.

    ``images`` has shape (N, 1, 28, 28) in [-1, 1]; ink is where a pixel is above 0, and the
    perimeter counts the sides of ink pixels that touch a non-ink pixel or the border
    (4-neighbours). The result has shape (N,).
    """
    name = "check_stroke_width"
    images = load_mnist("test", verbose=False).images[::97][:12]
    expected = measure_attributes(images).stroke_width.double()
    actual = as_tensor(name, call_reader(name, candidate, images), "the stroke width")
    area = (images > 0).double().sum(dim=(1, 2, 3))
    mistakes = [
        (expected / 2, "That is half the width: the formula is 2 * area / perimeter."),
        (area, "That is the ink area; divide twice the area by the perimeter."),
    ]
    compare(name, actual, expected, "the stroke width", mistakes=mistakes, rtol=1e-4, atol=1e-5)
    passed(name)
