"""unCLIP's prior: a diffusion prior keeps the spread that a regression prior averages away."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.metrics.clip_score import load_clip
from ddpm_tutorial.models import PriorConfig
from ddpm_tutorial.systems.unclip import (
    embedding_frechet_distance,
    prior_pairs,
    sample_prior,
    scale_embeddings,
    train_prior,
    train_regression_prior,
)

SMALL = PriorConfig(embed_dim=4, hidden_dim=64, num_layers=2, time_dim=16)


def _two_modes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each caption (one of two) has two equally likely images: +-e_k around a caption mode."""
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(0, 2, (n,), generator=g)
    sign = torch.randint(0, 2, (n,), generator=g) * 2 - 1
    text = torch.nn.functional.one_hot(which, 4).float() * 2
    image = torch.zeros(n, 4)
    image[torch.arange(n), which + 2] = sign.float() * 2
    return text, image


def test_scaled_embeddings_have_norm_sqrt_d():
    u = torch.nn.functional.normalize(torch.randn(5, 64), dim=1)
    assert scale_embeddings(u).norm(dim=1) == pytest.approx(torch.full((5,), 8.0), abs=1e-5)


def test_frechet_distance_of_embeddings():
    a = torch.randn(2000, 3, generator=torch.Generator().manual_seed(0))
    assert embedding_frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert embedding_frechet_distance(a, a + 1) == pytest.approx(3.0, rel=1e-6)


def test_diffusion_prior_samples_both_modes_where_regression_averages():
    text, image = _two_modes(4096, 0)
    prior, curve = train_prior(text, image, steps=700, batch_size=256, config=SMALL, lr=3e-3)
    regression, _ = train_regression_prior(text, image, steps=300, config=SMALL, lr=3e-3)
    assert curve[-1][1] < curve[0][1]
    query = torch.tensor([[2.0, 0, 0, 0]]).repeat(400, 1)  # caption 0: images +-2 e_2
    samples = sample_prior(prior, query, num_steps=32, generator=torch.Generator().manual_seed(1))
    assert samples.norm(dim=1) == pytest.approx(torch.full((400,), 2.0), abs=1e-4)
    coord = samples[:, 2]
    # both modes, each often: the prior draws images, not their average
    assert (coord > 1.0).float().mean() > 0.25 and (coord < -1.0).float().mean() > 0.25
    assert samples[:, 3].abs().mean() < 0.5  # and not caption 1's images
    mean_guess = regression(query[:1])[0]
    assert mean_guess[2].abs() < 0.6  # the regression sits between the modes


def test_prior_pairs_pair_each_caption_with_its_digit():
    clip = load_clip()
    pairs = prior_pairs(clip, "test")
    n = len(pairs["captions"])
    assert pairs["text"].shape == pairs["image"].shape == (n, 64)
    assert pairs["labels"].shape == (n,)
    assert pairs["image"].norm(dim=1) == pytest.approx(torch.full((n,), math.sqrt(64)), abs=1e-3)
    # matching pairs are closer than shuffled ones under CLIP (the digits come sorted by
    # class, so shuffle across the whole split)
    cos = torch.nn.functional.cosine_similarity(pairs["text"], pairs["image"]).mean()
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    shuffled = torch.nn.functional.cosine_similarity(pairs["text"], pairs["image"][perm])
    assert cos > shuffled.mean() + 0.3
