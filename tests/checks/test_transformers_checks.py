"""The transformer checkers accept the reference solutions and name the usual mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddpm_tutorial import checks
from ddpm_tutorial.checks.transformers import (
    check_adaln_sublayer,
    check_joint_attention_mask,
    check_patchify,
)
from ddpm_tutorial.models.dit import patchify


def _patchify_with(*axes, grid=(2, 4)):
    def fn(x, p):
        B, C, H, W = x.shape
        blocks = x.reshape(B, C, H // p, p, W // p, p)
        return blocks.permute(0, *grid, *axes).reshape(B, -1, C * p * p)

    return fn


def _sublayer(kind="right"):
    def fn(x, f, shift, scale, gate):
        h = F.layer_norm(x, x.shape[-1:], eps=1e-6)
        s, c, g = shift[:, None], scale[:, None], gate[:, None]
        if kind == "no one plus":
            return x + g * f(h * c + s)
        if kind == "no residual":
            return g * f(h * (1 + c) + s)
        if kind == "no gate":
            return x + f(h * (1 + c) + s)
        if kind == "no broadcast":
            return x + gate * f(h * (1 + scale) + shift)
        return x + g * f(h * (1 + c) + s)

    return fn


def _mask(kind="right"):
    def fn(text_mask, n):
        B, L = text_mask.shape
        ones = torch.ones(B, n, dtype=torch.bool)
        keys = torch.cat([ones, text_mask] if kind == "image first" else [text_mask, ones], dim=1)
        if kind == "none":
            keys = torch.ones_like(keys)
        keep = keys[:, None, :].expand(B, L + n, L + n)
        if kind == "queries":
            keep = keep.transpose(1, 2)
        if kind == "inverted":
            keep = ~keep
        return keep

    return fn


# ---------------------------------------------------------------------------- patchify
def test_patchify_checker_accepts_the_package_function_and_is_exported(capsys):
    checks.check_patchify(patchify)
    check_patchify(_patchify_with(1, 3, 5))
    assert capsys.readouterr().out.count("check_patchify passed") == 2


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_patchify_with(1, 5, 3), "pixels inside patches are scrambled"),
        (_patchify_with(3, 5, 1), "channels last"),
        (_patchify_with(1, 3, 5, grid=(4, 2)), "column-major"),
        (lambda x, p: x.reshape(x.shape[0], -1, x.shape[1] * p * p), "without a permute"),
    ],
)
def test_patchify_checker_names_each_wrong_order(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_patchify(wrong)


# ---------------------------------------------------------------------------- adaLN-Zero
def test_adaln_checker_accepts_the_formula(capsys):
    check_adaln_sublayer(_sublayer())
    assert "check_adaln_sublayer passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no one plus", "without the 1 \\+"),
        ("no residual", "residual is missing"),
        ("no gate", "gate \\(alpha\\) is missing"),
        ("no broadcast", "shift\\[:, None, :\\]"),
    ],
)
def test_adaln_checker_names_each_mistake(kind, message):
    with pytest.raises(AssertionError, match=message):
        check_adaln_sublayer(_sublayer(kind))


# ---------------------------------------------------------------------------- joint attention
def test_joint_mask_checker_accepts_the_key_mask_with_or_without_a_head_axis(capsys):
    check_joint_attention_mask(_mask())
    check_joint_attention_mask(
        lambda m, n: torch.cat([m, torch.ones(m.shape[0], n, dtype=torch.bool)], 1)[:, None, None]
    )
    assert capsys.readouterr().out.count("check_joint_attention_mask passed") == 2


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("none", "attends to the padding"),
        ("inverted", "inverted"),
        ("image first", "text first"),
        ("queries", "queries \\(rows\\) instead of the keys"),
    ],
)
def test_joint_mask_checker_names_each_mistake(kind, message):
    with pytest.raises(AssertionError, match=message):
        check_joint_attention_mask(_mask(kind))


def test_joint_mask_checker_names_separate_self_attentions():
    def separate(m, n):
        keep = _mask()(m, n).clone()
        L = m.shape[1]
        keep[:, :L, L:] = False
        keep[:, L:, :L] = False
        return keep

    with pytest.raises(AssertionError, match="attends only to itself"):
        check_joint_attention_mask(separate)
