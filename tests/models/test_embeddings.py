"""The sinusoidal step embedding (Vaswani et al. 2017, section 3.5)."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.models import TimestepEmbedding
from ddpm_tutorial.models.embeddings import sinusoidal_embedding


def test_embedding_is_sines_then_cosines_of_geometric_frequencies():
    t = torch.tensor([0, 1, 7, 999])
    emb = sinusoidal_embedding(t, 8)
    assert emb.shape == (4, 8) and emb.dtype == torch.float32
    for i in range(4):
        f = 10_000 ** (-i / 4)
        torch.testing.assert_close(emb[:, i], torch.sin(t.double() * f).float())
        torch.testing.assert_close(emb[:, 4 + i], torch.cos(t.double() * f).float())


def test_each_sine_cosine_pair_has_unit_length():
    emb = sinusoidal_embedding(torch.arange(0, 1000, 37), 32)
    torch.testing.assert_close(emb.square().sum(1), torch.full((emb.shape[0],), 16.0))


def test_every_step_gets_a_distinct_embedding():
    emb = sinusoidal_embedding(torch.arange(1000), 32)
    distances = torch.cdist(emb, emb) + torch.eye(1000) * 1e9
    assert distances.min().item() > 1e-3


def test_neighbouring_steps_are_closer_than_distant_ones():
    emb = sinusoidal_embedding(torch.tensor([500, 501, 900]), 64)
    assert (emb[0] - emb[1]).norm() < (emb[0] - emb[2]).norm()


def test_float_steps_are_accepted_and_interpolate():
    emb = sinusoidal_embedding(torch.tensor([10.0, 10.5, 11.0]), 16)
    assert math.isfinite(emb.sum().item())
    assert (emb[1] - emb[0]).norm() < (emb[2] - emb[0]).norm()


def test_odd_embedding_size_is_refused():
    with pytest.raises(ValueError, match="must be even"):
        sinusoidal_embedding(torch.tensor([1]), 7)


def test_timestep_embedding_maps_steps_to_vectors():
    module = TimestepEmbedding(16, 40)
    assert module(torch.tensor([0, 5, 999])).shape == (3, 40)
