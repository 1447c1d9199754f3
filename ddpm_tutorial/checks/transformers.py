"""Checkers for the transformer chapter: patchify, the adaLN-Zero sub-layer, a joint-attention mask.

The conventions checked are those of :mod:`ddpm_tutorial.models.dit` (Peebles & Xie 2023;
Esser et al. 2024 for the joint blocks):

* ``patchify(x, p)``: (B, C, H, W) -> (B, H/p * W/p, C p^2), patches in row-major order, each
  flattened in the order (C, p, p);
* one adaLN-Zero sub-layer: ``x + alpha * f(LayerNorm(x) * (1 + gamma) + beta)``, with
  ``beta, gamma, alpha`` of shape (B, D) broadcast over the N tokens of ``x`` (B, N, D);
* the joint attention's mask over ``[text, image]`` (text first, as in the package): a query
  may attend to every image token and to every text token that is not padding.

Each checker runs the reader's function on a small fixed input, compares it with the
reference, prints ``<name> passed``, or raises ``AssertionError`` with a sentence that names
the usual mistake it matches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.dit import patchify
from ._common import Mistake, as_tensor, call_reader, compare, fail, passed

__all__ = ["check_patchify", "check_adaln_sublayer", "check_joint_attention_mask"]


def _randn(*shape: int, seed: int) -> Tensor:
    """A standard normal float32 tensor of the given shape, the same for the same seed."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- patchify
def check_patchify(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x, p) -> tokens``: (B, C, H, W) -> (B, H/p * W/p, C p^2).

    The input is (2, 2, 8, 6) with ``p = 2`` (a non-square image and two channels, so that
    every wrong order of the axes gives a different result). Token ``i * (W/p) + j`` holds
    the patch in row ``i`` and column ``j`` of the grid, flattened as (C, p, p).
    """
    name = "check_patchify"
    p = 2
    x = _randn(2, 2, 8, 6, seed=0)
    B, C, H, W = x.shape
    expected = patchify(x, p)
    actual = as_tensor(name, call_reader(name, candidate, x.clone(), p), "the tokens")
    blocks = x.reshape(B, C, H // p, p, W // p, p)

    def order(*axes: int, grid_first: tuple[int, int] = (2, 4)) -> Tensor:
        return blocks.permute(0, *grid_first, *axes).reshape(B, -1, C * p * p)

    mistakes: list[Mistake] = [
        (
            order(1, 5, 3),
            "The rows and columns inside each patch are swapped (permute(0, 2, 4, 1, 5, 3)): "
            "every token holds its patch transposed, the pixels inside patches are scrambled.",
        ),
        (
            order(3, 5, 1),
            "Each patch is flattened as (p, p, C), channels last; the package flattens (C, p, p) "
            "(permute(0, 2, 4, 1, 3, 5)).",
        ),
        (
            order(1, 3, 5, grid_first=(4, 2)),
            "The patches are in column-major order (the grid's columns outer): token i * (W/p) + j "
            "must be the patch in grid row i, column j.",
        ),
        (
            x.reshape(B, (H // p) * (W // p), C * p * p),
            "It reshapes without a permute: a token then holds consecutive pixels of the "
            "flattened image (parts of rows), not a p x p square.",
        ),
    ]
    compare(
        name,
        actual,
        expected.double(),
        "the tokens of a (2, 2, 8, 6) batch with p = 2",
        mistakes=mistakes,
        reference="the package's patchify",
        hint="Reshape to (B, C, H/p, p, W/p, p), permute to (B, H/p, W/p, C, p, p), then flatten.",
    )
    passed(name)


# ---------------------------------------------------------------------------- adaLN-Zero
def _reference_sublayer(
    x: Tensor, f: Callable[[Tensor], Tensor], shift: Tensor, scale: Tensor, gate: Tensor
) -> Tensor:
    """``x + gate * f(LN(x) (1 + scale) + shift)``; x (B, N, D), the rest (B, D)."""
    h = F.layer_norm(x, x.shape[-1:], eps=1e-6)
    return x + gate[:, None] * f(h * (1 + scale[:, None]) + shift[:, None])


def check_adaln_sublayer(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(x, f, shift, scale, gate)``, one adaLN-Zero sub-layer of a DiT block.

    ``x`` is (2, 3, 8) (B = 2 examples, N = 3 tokens, D = 8 channels); ``shift``, ``scale``
    and ``gate`` (beta, gamma, alpha of Peebles & Xie 2023, sec. 3.2) are (2, 8), one value
    per example and channel; ``f`` is a fixed stand-in for the attention or the MLP. The
    result ``x + gate * f(LayerNorm(x) * (1 + scale) + shift)`` has the shape of ``x``; the
    LayerNorm has no learned affine (eps 1e-6, ``F.layer_norm(x, x.shape[-1:], eps=1e-6)``).
    """
    name = "check_adaln_sublayer"
    B, N, D = 2, 3, 8
    x = _randn(B, N, D, seed=0)
    shift, scale, gate = _randn(3, B, D, seed=1).unbind(0)
    weight = _randn(D, D, seed=2) / D**0.5

    def f(h: Tensor) -> Tensor:
        return torch.tanh(h @ weight.to(h.dtype))

    try:
        out = call_reader(name, candidate, x.clone(), f, shift.clone(), scale.clone(), gate.clone())
    except AssertionError as err:
        if "must match the size" in str(err):
            fail(
                name,
                f"shift, scale and gate have shape (B, D) = ({B}, {D}) and x (B, N, D) = "
                f"({B}, {N}, {D}): index them as shift[:, None, :] so that they broadcast over the "
                f"N tokens ({err})",
            )
        raise
    actual = as_tensor(name, out, "the sub-layer's output")
    expected = _reference_sublayer(x, f, shift, scale, gate)
    h = F.layer_norm(x, (D,), eps=1e-6)
    s, c, g = shift[:, None], scale[:, None], gate[:, None]
    mistakes: list[Mistake] = [
        (
            x + g * f(h * c + s),
            "The scale is applied without the 1 +: LN(x) * scale + shift. At adaLN-Zero's start "
            "(scale = 0) that would wipe out the normalised features instead of passing them on.",
        ),
        (
            g * f(h * (1 + c) + s),
            "The residual is missing: the sub-layer returns gate * f(...) instead of adding it "
            "to x, so a zero gate would erase x instead of leaving it unchanged.",
        ),
        (
            x + f(h * (1 + c) + s),
            "The gate (alpha) is missing: adaLN-Zero multiplies f(...) by the gate, which starts "
            "at zero so that every block starts as the identity.",
        ),
        (
            g * (x + f(h * (1 + c) + s)),
            "The gate multiplies the whole residual sum; it must multiply only f(...), "
            "x + gate * f(...).",
        ),
        (
            x + g * f(x * (1 + c) + s),
            "The LayerNorm is missing: modulate LN(x), not x.",
        ),
        (
            x + g * f(h * (1 + s) + c),
            "Shift and scale are swapped: LN(x) * (1 + scale) + shift.",
        ),
    ]
    compare(
        name,
        actual,
        expected.double(),
        "the sub-layer's output",
        mistakes=mistakes,
        reference="x + gate * f(LN(x) * (1 + scale) + shift)",
        hint="Compute h = LN(x), then x + gate * f(h * (1 + scale) + shift), with (B, D) values "
        "indexed [:, None] to broadcast over the tokens.",
        rtol=1e-4,
        atol=1e-5,
    )
    passed(name)


# ---------------------------------------------------------------------------- joint attention
def _reference_mask(text_mask: Tensor, num_image_tokens: int) -> Tensor:
    """(B, L) bool, True = a real token -> (B, L + N, L + N) bool, True = may attend."""
    B, L = text_mask.shape
    keys = torch.cat(
        [text_mask, torch.ones(B, num_image_tokens, dtype=torch.bool)], dim=1
    )  # (B, L + N)
    return keys[:, None, :].expand(B, L + num_image_tokens, L + num_image_tokens)


def check_joint_attention_mask(candidate: Callable[..., Any]) -> None:
    """Check ``candidate(text_mask, num_image_tokens) -> keep``, the joint attention's mask.

    ``text_mask`` is (2, 4) bool, True for a real text token and False for padding; there are
    3 image tokens. The tokens are concatenated text first, ``[text, image]`` (L + N = 7), as
    in :class:`~ddpm_tutorial.models.dit.DiTBlock`. ``keep[b, i, j]`` is True when query ``i``
    may attend to key ``j`` (the convention of ``F.scaled_dot_product_attention``'s boolean
    ``attn_mask``): every query, text or image, attends to every image token and to the real
    text tokens. The result must broadcast to (B, L + N, L + N) (a (B, 1, L + N, L + N) or
    (B, 1, 1, L + N) head axis is accepted).
    """
    name = "check_joint_attention_mask"
    text_mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    B, L = text_mask.shape
    N = 3
    size = L + N
    out = call_reader(name, candidate, text_mask.clone(), N)
    actual = as_tensor(name, out, "the mask")
    if actual.ndim == 4 and actual.shape[1] == 1:
        actual = actual[:, 0]
    try:
        actual = actual.expand(B, size, size)
    except RuntimeError:
        fail(
            name,
            f"the mask has shape {tuple(out.shape) if isinstance(out, Tensor) else '?'}; "
            f"expected one that broadcasts to (B, L + N, L + N) = ({B}, {size}, {size})",
        )
    expected = _reference_mask(text_mask, N)
    image_first = torch.cat([torch.ones(B, N, dtype=torch.bool), text_mask], dim=1)
    blocks = torch.zeros(size, size, dtype=torch.bool)
    blocks[:L, :L], blocks[L:, L:] = True, True
    mistakes: list[Mistake] = [
        (
            torch.ones(B, size, size),
            "Nothing is masked: every token, image tokens included, attends to the padding text "
            "tokens, which then leak into the image.",
        ),
        (
            ~expected,
            "True and False are inverted: in F.scaled_dot_product_attention's boolean mask True "
            "means 'may attend', so the padding must be False.",
        ),
        (
            image_first[:, None, :].expand(B, size, size),
            "The mask is built for [image, text]; the package concatenates text first, "
            "[text, image].",
        ),
        (
            expected.transpose(1, 2),
            "The mask is on the queries (rows) instead of the keys (columns): keep[b, i, j] says "
            "whether query i may read key j, and it is the keys that are padding.",
        ),
        (
            expected & blocks,
            "Each stream attends only to itself (two separate self-attentions): in MM-DiT's "
            "joint attention text and image tokens attend to each other.",
        ),
    ]
    compare(
        name,
        actual,
        expected.double(),
        f"keep for text masks {text_mask.int().tolist()} and {N} image tokens",
        mistakes=mistakes,
        reference="the joint mask",
        hint="Make a key mask (B, L + N): the text mask, then N Trues; repeat it for every query.",
    )
    passed(name)
