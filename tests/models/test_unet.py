"""The UNet noise predictor: shapes, conditioning contracts, gradients."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.models import (
    UNet,
    UNetConfig,
    build_model,
    config_from_dict,
    count_parameters,
    model_kind,
)

B = 3


def _inputs(B: int = B, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 1, 28, 28, generator=g), torch.tensor([0, 500, 999][:B])


# each conditioning: (config fields, a condition for B examples)
CONDITIONS = {
    "labels": (dict(num_classes=10), lambda B: torch.arange(B) % 10 + 1),
    "pooled": (
        dict(cond_dim=6),
        lambda B: torch.randn(B, 6, generator=torch.Generator().manual_seed(1)),
    ),
    "context": (
        dict(context_dim=5),
        lambda B: torch.randn(B, 4, 5, generator=torch.Generator().manual_seed(2)),
    ),
    "image": (
        dict(cond_image_channels=1),
        lambda B: torch.randn(B, 1, 14, 14, generator=torch.Generator().manual_seed(3)),
    ),
}


def test_unconditional_unet_maps_images_and_steps_to_noise_of_the_same_shape(make_tiny_unet):
    model = make_tiny_unet()
    x_t, t = _inputs()
    with torch.no_grad():
        eps = model(x_t, t)
    assert eps.shape == x_t.shape and eps.dtype == torch.float32
    assert eps.abs().sum() > 0


def test_a_fresh_unet_predicts_zero_noise(tiny_unet_config):
    """The output convolution starts at zero, so training starts from 'no noise predicted'."""
    with torch.no_grad():
        eps = UNet(tiny_unet_config)(*_inputs())
    assert eps.abs().max().item() == 0.0


@pytest.mark.parametrize("kind", CONDITIONS)
def test_conditional_unet_maps_to_the_input_shape_and_uses_its_condition(make_tiny_unet, kind):
    fields, make_cond = CONDITIONS[kind]
    model = make_tiny_unet(**fields)
    x_t, t = _inputs()
    cond = make_cond(B)
    with torch.no_grad():
        eps = model(x_t, t, cond)
        eps_none = model(x_t, t, None)
    assert eps.shape == eps_none.shape == x_t.shape
    assert not torch.allclose(eps, eps_none), f"the {kind} condition changes nothing"


@pytest.mark.parametrize("kind", CONDITIONS)
def test_cond_mask_false_equals_no_condition_for_that_example_only(make_tiny_unet, kind):
    fields, make_cond = CONDITIONS[kind]
    model = make_tiny_unet(**fields)
    x_t, t = _inputs()
    cond = make_cond(B)
    keep = torch.tensor([True, False, True])
    with torch.no_grad():
        masked = model(x_t, t, cond, cond_mask=keep)
        full = model(x_t, t, cond)
        none = model(x_t, t, None)
    torch.testing.assert_close(masked[1], none[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(masked[keep], full[keep], rtol=1e-5, atol=1e-6)


def test_class_conditional_unet_predicts_without_a_label_for_guidance(make_tiny_unet):
    """Classifier-free guidance calls model(x_t, t, None): the learned null label stands in."""
    model = make_tiny_unet(num_classes=10)
    x_t, t = _inputs()
    with torch.no_grad():
        eps = model(x_t, t, None)
    assert eps.shape == x_t.shape


def test_several_conditions_at_once_are_passed_as_a_dict(make_tiny_unet):
    model = make_tiny_unet(num_classes=10, context_dim=5, cond_image_channels=1)
    x_t, t = _inputs()
    cond = {
        "labels": CONDITIONS["labels"][1](B),
        "context": CONDITIONS["context"][1](B),
        "image": CONDITIONS["image"][1](B),
    }
    with torch.no_grad():
        eps = model(x_t, t, cond, cond_mask=torch.tensor([False, True, True]))
        none = model(x_t, t, None)
    assert eps.shape == x_t.shape
    torch.testing.assert_close(eps[0], none[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(eps[1:], none[1:])


def test_masked_context_tokens_are_ignored(make_tiny_unet):
    model = make_tiny_unet(context_dim=5)
    x_t, t = _inputs()
    tokens = CONDITIONS["context"][1](B)
    mask = torch.tensor([[True, True, False, False]] * B)
    other = tokens.clone()
    other[:, 2:] = 100.0  # the masked tokens change, the output must not
    with torch.no_grad():
        a = model(x_t, t, {"context": tokens, "context_mask": mask})
        b = model(x_t, t, {"context": other, "context_mask": mask})
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_each_example_is_predicted_independently_of_the_rest_of_the_batch(make_tiny_unet):
    model = make_tiny_unet(num_classes=10)
    x_t, t = _inputs()
    labels = torch.tensor([3, 4, 5])
    with torch.no_grad():
        batch = model(x_t, t, labels)
        alone = model(x_t[1:2], t[1:2], labels[1:2])
    torch.testing.assert_close(batch[1:2], alone, rtol=1e-5, atol=1e-6)


def test_the_prediction_depends_on_the_step(make_tiny_unet):
    model = make_tiny_unet()
    x_t = _inputs()[0][:1].expand(2, -1, -1, -1)
    with torch.no_grad():
        eps = model(x_t, torch.tensor([10, 900]))
    assert not torch.allclose(eps[0], eps[1])


def test_every_parameter_receives_a_gradient(make_tiny_unet):
    model = make_tiny_unet(num_classes=10, cond_dim=6, context_dim=5, cond_image_channels=1).train()
    x_t, t = _inputs()
    cond = {k: CONDITIONS[k][1](B) for k in ("labels", "pooled", "context", "image")}
    # one example without its condition, so the null embeddings are used too
    model(x_t, t, cond, cond_mask=torch.tensor([True, False, True])).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"parameters without gradient: {missing}"


def test_default_config_builds_the_book_sized_unet():
    model = UNet()
    assert model.config == UNetConfig()
    assert 1_000_000 < count_parameters(model) < 5_000_000


def test_build_model_rebuilds_a_unet_from_its_json_config(tiny_unet_config):
    as_json = {
        k: list(v) if isinstance(v, tuple) else v for k, v in tiny_unet_config.__dict__.items()
    }
    model = build_model("unet", as_json)
    assert isinstance(model, UNet) and model.config == tiny_unet_config
    assert model_kind(model) == "unet"
    assert config_from_dict(UNetConfig, {"channel_mults": [1, 2]}).channel_mults == (1, 2)


def test_config_lists_its_conditioning_kinds():
    assert UNetConfig().conditioning == ()
    assert UNetConfig(num_classes=10, context_dim=8, cond_image_channels=1).conditioning == (
        "labels",
        "context",
        "image",
    )
