"""Memorisation: copies of training digits are flagged and shown; fresh digits are not."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.metrics.memorisation import memorisation, nearest_neighbours, nearest_pairs


@pytest.fixture(scope="module")
def splits():
    train, test = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))
    # half of the held-out digits calibrate delta; the other half play fresh samples
    return train.images, test.images[order[:500]], test.images[order[500:700]]


def test_copies_of_training_digits_are_flagged_and_found_in_both_spaces(splits):
    train, held_out, fresh = splits
    copied = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:20]
    samples = torch.cat([train[copied], fresh[:180]])
    result = memorisation(samples, held_out=held_out)
    for space in (result.pixels, result.features):
        flagged = space.sample < space.threshold
        assert flagged[:20].all()  # every copy
        assert int(flagged[20:].sum()) <= 10  # fresh digits: about q = 1% of 180
        assert torch.equal(space.sample_index[:20], copied)
    images, distances = nearest_pairs(samples, train, result.pixels, count=20)
    assert images.shape == (2, 20, 1, 28, 28) and torch.equal(images[0], images[1])
    assert float(distances.max()) < 1e-3
    summary = result.as_dict()
    assert summary["num_samples"] == 200 and summary["num_held_out"] == 500
    assert summary["pixels"]["flagged_fraction"] >= 0.1
    assert summary["features"]["name"] == "mnist-style-features"


def test_fresh_digits_are_flagged_about_as_often_as_the_quantile_says(splits):
    train, held_out, fresh = splits
    result = memorisation(fresh, held_out=held_out, quantile=0.05)
    for space in (result.pixels, result.features):
        assert space.flagged_fraction < 0.15
        assert abs(space.as_dict()["held_out_flagged_fraction"] - 0.05) < 0.01


def test_nearest_neighbours_match_a_brute_force_search():
    g = torch.Generator().manual_seed(0)
    queries, bank = torch.randn(7, 5, generator=g), torch.randn(30, 5, generator=g)
    d, i = nearest_neighbours(queries, bank)
    brute = torch.tensor([[float((q - b).norm()) for b in bank] for q in queries])
    assert torch.equal(i, brute.argmin(1))
    assert torch.allclose(d, brute.min(1).values.double(), atol=1e-5)
    with pytest.raises(ValueError, match="same dimension"):
        nearest_neighbours(queries, bank[:, :4])


def test_memorisation_refuses_bad_samples_and_quantiles(splits):
    train, held_out, fresh = splits
    with pytest.raises(ValueError, match="got 1.5"):
        memorisation(fresh, held_out=held_out, quantile=1.5)
    with pytest.raises(ValueError, match=r"\(M, 1, 28, 28\)"):
        memorisation(fresh[:, 0], held_out=held_out)
