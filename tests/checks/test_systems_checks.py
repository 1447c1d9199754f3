"""The checkers of 4.2-4.4 accept the references and name the usual mistakes."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial import checks
from ddpm_tutorial.models.sr_unet import augment_low_res
from ddpm_tutorial.reverse_process import dynamic_threshold_x0


def test_cross_attention_checker(capsys):
    def attend(h, c, wq, wk, wv, scale=True, axis=-1):
        s = (h @ wq) @ (c @ wk).transpose(1, 2)
        return (s / (math.sqrt(wq.shape[1]) if scale else 1)).softmax(axis) @ (c @ wv)

    checks.check_cross_attention(attend)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="sqrt\\(d\\)"):
        checks.check_cross_attention(lambda *a: attend(*a, scale=False))
    with pytest.raises(AssertionError, match="over the text tokens"):
        checks.check_cross_attention(lambda *a: attend(*a, axis=1))
    with pytest.raises(AssertionError, match="raised"):
        checks.check_cross_attention(lambda *a: 1 / 0)


def test_prior_ddim_step_checker(capsys):
    def step(z_t, z0, a_t, a_s):
        eps = (z_t - math.sqrt(a_t) * z0) / math.sqrt(1 - a_t)
        return math.sqrt(a_s) * z0 + math.sqrt(1 - a_s) * eps

    checks.check_prior_ddim_step(step)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="not the noise"):
        checks.check_prior_ddim_step(
            lambda z_t, z0, a_t, a_s: a_s**0.5 * z0 + (1 - a_s) ** 0.5 * z_t
        )


def test_noise_augmentation_checker(capsys):
    checks.check_noise_augmentation(lambda y, s, n: (1 - s**2) ** 0.5 * y + s * n)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="variance stays"):
        checks.check_noise_augmentation(lambda y, s, n: y + s * n)
    # the package's own augmentation agrees with the checker's formula
    y = torch.rand(2, 1, 4, 4)
    g = torch.Generator().manual_seed(5)
    ours, _ = augment_low_res(y, 0.4, g)
    expected = (1 - 0.16) ** 0.5 * y + 0.4 * torch.randn(
        y.shape, generator=torch.Generator().manual_seed(5)
    )
    assert torch.allclose(ours, expected, atol=1e-6)


def test_dynamic_threshold_checker(capsys):
    checks.check_dynamic_threshold(dynamic_threshold_x0)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="static clipping"):
        checks.check_dynamic_threshold(lambda x, p: x.clamp(-1, 1))

    def no_floor(x, p):
        s = torch.quantile(x.reshape(len(x), -1).abs(), p, dim=1).view(-1, 1, 1, 1)
        return x.clamp(-s, s) / s

    with pytest.raises(AssertionError, match="at least 1"):
        checks.check_dynamic_threshold(no_floor)
