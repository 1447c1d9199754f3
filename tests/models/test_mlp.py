"""The MLP noise predictor for 2-D toy data."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.models import MLPConfig, MLPDenoiser, build_model, model_kind


@pytest.fixture
def mlp(randomize):
    torch.manual_seed(0)
    return randomize(
        MLPDenoiser(MLPConfig(data_dim=3, hidden_dim=32, num_layers=2, time_embed_dim=16))
    )


def test_mlp_maps_points_and_steps_to_noise_of_the_same_shape(mlp):
    x_t, t = torch.randn(5, 3), torch.tensor([0, 1, 2, 100, 999])
    with torch.no_grad():
        eps = mlp(x_t, t)
    assert eps.shape == (5, 3) and eps.dtype == torch.float32


def test_mlp_prediction_depends_on_the_step(mlp):
    x_t = torch.randn(1, 3).expand(2, 3)
    with torch.no_grad():
        eps = mlp(x_t, torch.tensor([3, 700]))
    assert not torch.allclose(eps[0], eps[1])


def test_mlp_predicts_each_example_independently(mlp):
    x_t, t = torch.randn(4, 3), torch.tensor([5, 6, 7, 8])
    with torch.no_grad():
        torch.testing.assert_close(mlp(x_t, t)[2:3], mlp(x_t[2:3], t[2:3]))


def test_mlp_default_config_serves_2d_points_and_is_registered():
    model = build_model("mlp", {})
    assert isinstance(model, MLPDenoiser) and model.config.data_dim == 2
    assert model_kind(model) == "mlp"
    assert model(torch.zeros(2, 2), torch.tensor([0, 1])).shape == (2, 2)


def test_every_mlp_parameter_receives_a_gradient(mlp):
    mlp(torch.randn(4, 3), torch.tensor([1, 2, 3, 4])).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mlp.parameters())
