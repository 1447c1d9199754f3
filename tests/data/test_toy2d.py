"""2-D toy datasets."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.data import TOY_DATASETS, make_toy_data


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_data_are_float32_points_of_shape_n_by_2(name):
    x = make_toy_data(name, 1001)
    assert x.shape == (1001, 2) and x.dtype == torch.float32
    assert bool(torch.isfinite(x).all())


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_data_are_roughly_centred_with_unit_scale(name):
    x = make_toy_data(name, 5000)
    assert x.mean(0).abs().max().item() < 0.5
    assert 0.3 < x.std(0).min().item() and x.std(0).max().item() < 2.0


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_data_are_determined_by_the_seed(name):
    assert torch.equal(make_toy_data(name, 300, seed=4), make_toy_data(name, 300, seed=4))
    assert not torch.equal(make_toy_data(name, 300, seed=4), make_toy_data(name, 300, seed=5))


def test_two_moons_puts_half_the_points_on_each_moon():
    from ddpm_tutorial.data.toy2d import two_moons

    x = two_moons(2000, noise=0.0, generator=torch.Generator().manual_seed(0)) * 0.8 + torch.tensor(
        [0.5, 0.25]
    )
    on_outer = ((x.norm(dim=1) - 1).abs() < 1e-4).sum().item()
    assert on_outer == 1000


def test_gaussian_mixture_has_its_modes_on_a_circle():
    from ddpm_tutorial.data.toy2d import gaussian_mixture

    x = gaussian_mixture(
        4000, num_modes=8, radius=1.5, std=0.01, generator=torch.Generator().manual_seed(0)
    )
    assert (x.norm(dim=1) - 1.5).abs().max().item() < 0.06
