"""The Part IV checkers accept the reference and name the usual mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddpm_tutorial import checks
from ddpm_tutorial.metrics.fid import frechet_distance
from ddpm_tutorial.systems.clip import contrastive_loss
from ddpm_tutorial.systems.latent_diffusion import kl_divergence


def test_frechet_distance_checker(capsys):
    checks.check_frechet_distance(frechet_distance)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="square root of the distance"):
        checks.check_frechet_distance(lambda *a: frechet_distance(*a) ** 0.5)
    with pytest.raises(AssertionError, match="factor 2"):

        def no_two(m1, s1, m2, s2):
            vals = torch.linalg.eigvals(s1 @ s2).real.clamp(min=0).sqrt().sum()
            return float((m1 - m2).square().sum() + s1.trace() + s2.trace() - vals)

        checks.check_frechet_distance(no_two)
    with pytest.raises(AssertionError, match="covariance term"):
        checks.check_frechet_distance(lambda m1, s1, m2, s2: float((m1 - m2).square().sum()))
    with pytest.raises(AssertionError, match="raised"):
        checks.check_frechet_distance(lambda *a: 1 / 0)


def test_clip_checkers(capsys):
    checks.check_clip_loss(contrastive_loss)
    checks.check_clip_score(lambda u, v: 100 * F.cosine_similarity(u, v, dim=1).clamp(min=0))
    assert capsys.readouterr().out.count("passed") == 2
    with pytest.raises(AssertionError, match="only the image-to-text half"):
        checks.check_clip_loss(lambda z: F.cross_entropy(z, torch.arange(len(z))))
    with pytest.raises(AssertionError, match="clipped to 0"):
        checks.check_clip_score(lambda u, v: 100 * F.cosine_similarity(u, v, dim=1))
    with pytest.raises(AssertionError, match="Normalise"):
        checks.check_clip_score(lambda u, v: 100 * (u * v).sum(1).clamp(min=0))


def test_latent_checkers(capsys):
    checks.check_kl_divergence(kl_divergence)
    checks.check_scale_latents(lambda z: 1 / z.std())
    checks.check_downsample(lambda x: F.avg_pool2d(x, 2))
    assert capsys.readouterr().out.count("passed") == 3
    with pytest.raises(AssertionError, match="factor 1/2"):
        checks.check_kl_divergence(lambda m, lv: (m**2 + lv.exp() - 1 - lv).flatten(1).sum(1))
    with pytest.raises(AssertionError, match="its inverse"):
        checks.check_scale_latents(lambda z: z.std())
    with pytest.raises(AssertionError, match="every other pixel"):
        checks.check_downsample(lambda x: x[:, :, ::2, ::2])
