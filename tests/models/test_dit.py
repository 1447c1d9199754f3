"""The DiT denoiser: patches, adaLN-Zero, classes, MM-DiT's joint attention, attention maps."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.models import DiT, DiTConfig, build_model, count_parameters, model_kind
from ddpm_tutorial.models.dit import patchify, sincos_position_embedding, unpatchify

SMALL = dict(patch_size=4, hidden_dim=16, depth=2, num_heads=2)


def _inputs(B: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 1, 28, 28, generator=g), torch.tensor([0.0, 500.0, 999.0][:B])


def _perturbed(model: DiT, seed: int = 1) -> DiT:
    """adaLN-Zero starts every block at the identity and the output at zero; move off it."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def test_patchify_and_unpatchify_are_inverses_and_patches_are_row_major():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    tokens = patchify(x, 4)
    assert tokens.shape == (2, 4, 3 * 16)
    assert torch.equal(unpatchify(tokens, 4, 3), x)
    # token 1 is the top-right 4x4 patch, channel by channel
    assert torch.equal(tokens[0, 1], x[0, :, :4, 4:].reshape(-1))


def test_sincos_positions_differ_for_every_patch_and_have_unit_scale():
    pos = sincos_position_embedding(16, 7)
    assert pos.shape == (49, 16)
    assert torch.cdist(pos, pos).fill_diagonal_(1.0).min() > 0.1
    assert pos.abs().max() <= 1.0


def test_a_fresh_dit_outputs_zero_adaln_zero_starts_at_the_identity():
    x, t = _inputs()
    out = DiT(DiTConfig(**SMALL))(x, t)
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0


def test_a_dit_is_a_registered_denoiser_kind_rebuilt_from_its_config():
    model = DiT(DiTConfig(**SMALL))
    assert model_kind(model) == "dit"
    rebuilt = build_model("dit", dict(SMALL))
    assert count_parameters(rebuilt) == count_parameters(model)


def test_the_cpu_dit_has_the_parameters_of_the_cpu_unet_within_ten_percent():
    from ddpm_tutorial.models import UNet
    from ddpm_tutorial.runs import get_config

    dit = count_parameters(DiT(get_config("mnist-dit", "cpu").model))
    unet = count_parameters(UNet(get_config("mnist-flow", "cpu").model))
    assert abs(dit - unet) / unet < 0.10


def test_the_output_depends_on_the_step_and_each_example_only_on_itself():
    model = _perturbed(DiT(DiTConfig(**SMALL))).eval()
    x, t = _inputs()
    out = model(x, t)
    assert not torch.allclose(model(x, t + 10), out)
    x2 = x.clone()
    x2[1] += 1.0
    out2 = model(x2, t)
    assert torch.allclose(out2[[0, 2]], out[[0, 2]], atol=1e-6)
    assert not torch.allclose(out2[1], out[1])


def test_class_labels_change_the_output_and_a_dropped_label_is_the_null_label():
    model = _perturbed(DiT(DiTConfig(**SMALL, num_classes=10))).eval()
    x, t = _inputs()
    a = model(x, t, torch.tensor([1, 2, 3]))
    b = model(x, t, torch.tensor([4, 5, 6]))
    assert not torch.allclose(a, b)
    dropped = model(x, t, torch.tensor([1, 2, 3]), cond_mask=torch.tensor([False] * 3))
    assert torch.allclose(dropped, model(x, t, None))


def test_mmdit_image_tokens_read_the_text_and_padding_tokens_are_ignored():
    model = _perturbed(DiT(DiTConfig(**SMALL, context_dim=5))).eval()
    x, t = _inputs()
    g = torch.Generator().manual_seed(3)
    text = torch.randn(3, 4, 5, generator=g)
    mask = torch.tensor([[True, True, False, False]] * 3)
    out = model(x, t, {"context": text, "context_mask": mask})
    other = text.clone()
    other[:, 0] += 1.0
    assert not torch.allclose(model(x, t, {"context": other, "context_mask": mask}), out)
    padded = text.clone()
    padded[:, 2:] = 100.0  # masked tokens: their values must not matter
    assert torch.allclose(model(x, t, {"context": padded, "context_mask": mask}), out, atol=1e-5)
    # an MM-DiT block has a second stream of weights for the text
    assert model.blocks[0].text is not None


def test_recorded_attention_covers_text_and_image_tokens_and_rows_sum_to_one():
    model = _perturbed(DiT(DiTConfig(**SMALL, context_dim=5))).eval()
    x, t = _inputs(B=2)
    model.record_attention = True
    model(x, t, {"context": torch.randn(2, 4, 5)})
    maps = model.last_attention
    assert len(maps) == SMALL["depth"]
    n = 1 + 4 + 49  # the null token, four text tokens, 7 x 7 patches
    assert maps[0].shape == (2, SMALL["num_heads"], n, n)
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, SMALL["num_heads"], n), atol=1e-5)


def test_the_fused_and_the_recorded_attention_give_the_same_output():
    model = _perturbed(DiT(DiTConfig(**SMALL, context_dim=5))).eval()
    x, t = _inputs(B=2)
    cond = {"context": torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(5))}
    fused = model(x, t, cond)
    model.record_attention = True
    assert torch.allclose(model(x, t, cond), fused, atol=1e-5)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(patch_size=5), "patch_size 5 must divide image_size 28"),
        (dict(hidden_dim=18, num_heads=1), "must be a multiple of 4"),
        (dict(hidden_dim=24, num_heads=8), "heads of even width"),
    ],
)
def test_bad_sizes_are_refused_in_one_line(fields, message):
    with pytest.raises(ValueError, match=message):
        DiTConfig(**{**SMALL, **fields})


def test_a_wrong_input_shape_or_step_shape_is_refused_in_one_line():
    model = DiT(DiTConfig(**SMALL))
    with pytest.raises(ValueError, match=r"DiT expects x_t of shape \(B, 1, 28, 28\)"):
        model(torch.randn(2, 1, 14, 14), torch.zeros(2))
    with pytest.raises(ValueError, match=r"t must be a tensor of shape \(2,\)"):
        model(torch.randn(2, 1, 28, 28), torch.zeros(3))
    with pytest.raises(ValueError, match="unconditional"):
        model(torch.randn(2, 1, 28, 28), torch.zeros(2), torch.tensor([1, 2]))


TEXT = dict(
    SMALL, vocabulary=("a", "thick", "three", "seven"), text_dim=8, text_layers=1, text_heads=2
)


def test_a_text_dit_reads_its_prompt_and_a_dropped_prompt_is_no_prompt():
    from ddpm_tutorial.models import TextDiT, TextDiTConfig

    model = _perturbed(TextDiT(TextDiTConfig(**TEXT))).eval()
    assert model.config.context_dim == 8 and model.dit.blocks[0].text is not None
    x, t = _inputs(B=2)
    three, seven = (
        model.encode_prompts(["a thick three"] * 2),
        model.encode_prompts(["a seven"] * 2),
    )
    assert not torch.allclose(model(x, t, three), model(x, t, seven))
    dropped = model(x, t, three, cond_mask=torch.tensor([False, False]))
    assert torch.allclose(dropped, model(x, t, None), atol=1e-6)
    with pytest.raises(TypeError, match="this TextDiT encodes text itself"):
        model(x, t, {"tokens": torch.zeros(2, 3, 8)})


def test_a_text_dits_config_derives_its_context_width_and_refuses_labels():
    from ddpm_tutorial.models import TextDiTConfig

    with pytest.raises(ValueError, match="context_dim follows from text_dim=8; got 5"):
        TextDiTConfig(**TEXT, context_dim=5)
    with pytest.raises(ValueError, match="conditioned on text only"):
        TextDiTConfig(**TEXT, num_classes=10)
    with pytest.raises(ValueError, match="needs a vocabulary"):
        TextDiTConfig(**{**TEXT, "vocabulary": ()})
