"""From a checkpoint to samples, with the card's defaults."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, save_checkpoint
from ddpm_tutorial.models import MLPConfig, MLPDenoiser, PriorConfig, UNetConfig
from ddpm_tutorial.ode_samplers import ODE_SAMPLERS
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.systems.pipeline import draw_samples, sample_shape


def _checkpoint(tmp_path, make_tiny_unet, conditioning: str, **card):
    fields = {"num_classes": 10} if conditioning == "class" else {}
    path = tmp_path / f"{conditioning}.safetensors"
    sampling = {
        "sampler": "ddim",
        "steps": 4,
        "eta": 0.0,
        "guidance_scale": 1.0 if conditioning == "none" else 3.0,
    }
    save_checkpoint(
        make_tiny_unet(**fields),
        path,
        schedule=NoiseSchedule.linear(20),
        card={"conditioning": conditioning, "sampling": sampling, **card},
    )
    return load_checkpoint(path)


@pytest.fixture
def uncond(tmp_path, make_tiny_unet):
    return _checkpoint(tmp_path, make_tiny_unet, "none")


@pytest.fixture
def class_cond(tmp_path, make_tiny_unet):
    return _checkpoint(tmp_path, make_tiny_unet, "class")


def test_samples_have_the_models_image_shape_and_float32(uncond):
    x = draw_samples(uncond, 3)
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32 and bool(torch.isfinite(x).all())


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_the_same_seed_gives_the_same_samples(uncond, sampler):
    a, b = (
        draw_samples(uncond, 2, sampler=sampler, seed=5),
        draw_samples(uncond, 2, sampler=sampler, seed=5),
    )
    assert torch.equal(a, b)
    assert not torch.equal(a, draw_samples(uncond, 2, sampler=sampler, seed=6))


def test_precision_reaches_the_sampler(uncond):
    fp32 = draw_samples(uncond, 2, seed=1)
    assert torch.equal(fp32, draw_samples(uncond, 2, seed=1, precision="fp32"))
    bf16 = draw_samples(uncond, 2, seed=1, precision="bf16")
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, fp32)
    with pytest.raises(ValueError, match="unknown precision"):
        draw_samples(uncond, 2, precision="half")


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpm-solver++"])
def test_a_noise_predictor_samples_with_each_ode_solver_as_the_module_does(uncond, sampler):
    """The pipeline draws the initial noise from the seed and calls the solver with it."""
    x = draw_samples(uncond, 2, sampler=sampler, steps=3, seed=4)
    g = torch.Generator().manual_seed(4)
    direct = ODE_SAMPLERS[sampler](
        uncond.model, uncond.schedule, (2, 1, 28, 28), num_steps=3, generator=g
    )
    assert torch.equal(x, direct)
    assert not torch.equal(x, draw_samples(uncond, 2, sampler="ddim", steps=3, seed=4))


def test_samples_are_drawn_in_batches_up_to_batch_size(uncond):
    assert draw_samples(uncond, 5, batch_size=2).shape == (5, 1, 28, 28)


def test_clip_x0_keeps_samples_in_range(uncond):
    assert draw_samples(uncond, 2, clip_x0=True).abs().max().item() <= 1.0


def test_class_conditional_samples_use_the_label_and_the_cards_guidance(class_cond):
    """The card's default guidance scale is 3, which needs the unconditional prediction too."""
    three = draw_samples(class_cond, 2, label=3)
    assert three.shape == (2, 1, 28, 28)
    assert not torch.equal(three, draw_samples(class_cond, 2, label=7))
    unguided = draw_samples(class_cond, 2, label=3, guidance_scale=1.0)
    assert not torch.equal(three, unguided)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sampler": "rk4"}, "unknown sampler 'rk4'"),
        ({"sampler": "heun", "eta": 0.5}, "--eta applies to the ddim sampler"),
        ({"sampler": "ddpm", "steps": 5}, "--steps and --eta apply to the ddim sampler"),
        ({"label": 3}, "--label needs a class-conditional model"),
        ({"prompt": "a seven"}, "--prompt needs a text-conditional model"),
        ({"guidance_scale": 2.0}, "--guidance-scale needs a condition"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
    ],
)
def test_wrong_requests_to_an_unconditional_model_are_refused(uncond, kwargs, message):
    with pytest.raises(ValueError, match=message):
        draw_samples(uncond, 2, **kwargs)


@pytest.mark.parametrize(
    "label, message",
    [(None, "is class-conditional: pass --label"), (10, r"--label must lie in \[0, 10\)")],
)
def test_a_class_conditional_model_needs_a_valid_label(class_cond, label, message):
    with pytest.raises(ValueError, match=message):
        draw_samples(class_cond, 2, label=label)


def test_the_cards_clip_default_applies_unless_the_caller_overrides_it(tmp_path, make_tiny_unet):
    ckpt = _checkpoint(tmp_path, make_tiny_unet, "none")
    ckpt.card["sampling"]["clip_x0"] = True
    assert draw_samples(ckpt, 4, seed=3).abs().max().item() <= 1.0
    unclipped = draw_samples(ckpt, 4, seed=3, clip_x0=False)
    assert not torch.equal(unclipped, draw_samples(ckpt, 4, seed=3))


# ---------------------------------------------------------------------------- every kind


@pytest.fixture
def points(tmp_path):
    """A tiny MLP for 2-D points, saved and loaded as the toy configs' runs write it."""
    torch.manual_seed(0)
    path = tmp_path / "toy.safetensors"
    save_checkpoint(
        MLPDenoiser(MLPConfig(hidden_dim=16, num_layers=1, time_embed_dim=8)),
        path,
        schedule=NoiseSchedule.linear(20),
        card={"conditioning": "none", "sampling": {"sampler": "ddim", "steps": 4}},
    )
    return load_checkpoint(path)


def test_sample_shape_is_points_for_the_mlp_and_images_for_a_unet():
    assert sample_shape(MLPConfig(data_dim=3), 5) == (5, 3)
    latent = UNetConfig(in_channels=4, out_channels=4, image_size=7, channel_mults=(1,))
    assert sample_shape(latent, 2) == (2, 4, 7, 7)
    with pytest.raises(ValueError, match="cannot tell the sample shape of a PriorConfig"):
        sample_shape(PriorConfig(), 2)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_a_2d_toy_checkpoint_draws_n_points_seeded(points, sampler):
    x = draw_samples(points, 7, sampler=sampler, seed=1, batch_size=3)
    assert x.shape == (7, 2) and x.dtype == torch.float32 and bool(torch.isfinite(x).all())
    assert torch.equal(x, draw_samples(points, 7, sampler=sampler, seed=1, batch_size=3))


@pytest.mark.parametrize(
    "name, message",
    [
        ("mnist-classifier", "'digit-classifier' network, which draws no samples"),
        ("mnist-autoencoder", "'autoencoder' network, which draws no samples"),
        ("mnist-unclip-prior", "'diffusion-prior' network, a part of a cascade"),
        ("mnist-imagen-sr", "'sr-unet' network, a part of a cascade"),
    ],
)
def test_a_network_that_draws_nothing_alone_is_refused_naming_its_kind(name, message):
    with pytest.raises(ValueError, match=message):
        draw_samples(load_checkpoint(name), 2)


def test_the_first_dalle_draws_seeded_digits_from_a_prompt():
    dalle = load_checkpoint("mnist-dalle")
    x = draw_samples(dalle, 3, prompt="a handwritten 7", seed=2, batch_size=2)
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(x, draw_samples(dalle, 3, prompt="a handwritten 7", seed=2, batch_size=2))
    with pytest.raises(ValueError, match="is text-conditional: pass --prompt"):
        draw_samples(dalle, 1)
    with pytest.raises(ValueError, match="--steps does not apply to 'mnist-dalle'"):
        draw_samples(dalle, 1, prompt="a 7", steps=5)
