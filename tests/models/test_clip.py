"""The CLIP network: unit embeddings, the temperature, the logit matrix."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.data.captions import caption_vocabulary
from ddpm_tutorial.models import CLIP, CLIPConfig, build_model


def _tiny() -> CLIP:
    return CLIP(
        CLIPConfig(
            vocabulary=caption_vocabulary(),
            image_channels=8,
            text_dim=16,
            text_layers=1,
            text_heads=2,
            embed_dim=8,
        )
    )


def test_embeddings_are_unit_vectors_and_logits_are_scaled_cosines():
    torch.manual_seed(0)
    model = _tiny().eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    ids = model.tokenize(["a handwritten 3", "the digit seven", "thick one"])
    u, v = model.encode_image(x), model.encode_text(ids)
    assert u.shape == v.shape == (3, 8)
    assert torch.allclose(u.norm(dim=1), torch.ones(3), atol=1e-5)
    logits = model(x, ids)
    assert torch.allclose(logits, (u @ v.T) / 0.07, atol=1e-4)
    assert model.temperature == pytest.approx(0.07, rel=1e-5)


def test_the_logit_scale_is_clamped_at_100():
    model = _tiny()
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.temperature == pytest.approx(0.01)
    x = torch.rand(2, 1, 28, 28)
    ids = model.tokenize(["one", "two"])
    assert model(x, ids).abs().max() <= 100 + 1e-4


def test_config_needs_a_vocabulary_and_checks_sizes():
    with pytest.raises(ValueError, match="vocabulary"):
        CLIPConfig()
    with pytest.raises(ValueError, match="init_temperature"):
        CLIPConfig(vocabulary=("a",), init_temperature=1.5)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        _tiny().encode_image(torch.zeros(1, 3, 28, 28))
    rebuilt = build_model("clip", {"vocabulary": list(caption_vocabulary()), "embed_dim": 8})
    assert rebuilt.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
