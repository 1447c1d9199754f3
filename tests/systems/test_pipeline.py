"""From a checkpoint to samples, with the card's defaults."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, save_checkpoint
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.systems.pipeline import draw_samples


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
        ({"sampler": "euler"}, "unknown sampler 'euler'"),
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
