"""The first-DALL-E miniature: quantiser, tokeniser, causal transformer, sampling."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, save_checkpoint
from ddpm_tutorial.data.captions import caption_vocabulary
from ddpm_tutorial.models import DALLE, DALLEConfig
from ddpm_tutorial.models.dalle import VectorQuantizer

TINY = DALLEConfig(
    vocabulary=caption_vocabulary(),
    vq_channels=8,
    codebook_size=16,
    code_dim=4,
    dim=16,
    layers=1,
    heads=2,
)


def test_quantizer_picks_the_nearest_entry_and_passes_gradients_straight_through():
    q = VectorQuantizer(4, 2)
    with torch.no_grad():
        q.codebook.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]))
    z = torch.tensor([[0.9, 0.1], [0.1, 0.2], [4.0, 6.0], [0.2, 0.7]]).T.reshape(1, 2, 2, 2)
    z.requires_grad_(True)
    z_q, idx, loss = q(z)
    assert idx.flatten().tolist() == [1, 0, 3, 2]
    assert torch.allclose(z_q, q.lookup(idx))
    z_q.sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z))  # identity gradient through the quantiser
    assert loss > 0


def test_tokenizer_shapes_and_refusals():
    model = DALLE(TINY).eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    tokens = model.vq.encode(x)
    assert tokens.shape == (3, 49) and tokens.dtype == torch.long and int(tokens.max()) < 16
    assert model.vq.decode(tokens).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="28, 28"):
        model.vq.encode(torch.zeros(3, 1, 14, 14))
    with pytest.raises(ValueError, match="49"):
        model.vq.decode(torch.zeros(3, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="vocabulary"):
        DALLEConfig()


def test_transformer_is_causal_and_generates_digits_of_the_right_shape(tmp_path):
    torch.manual_seed(0)
    model = DALLE(TINY).eval()
    ids = model.encode_prompts(["a handwritten 7", "a bold 3"])
    tokens = torch.randint(0, 16, (2, 49))
    _, logits = model.logits(ids, tokens)
    assert logits.shape == (2, 49, 16)
    changed = tokens.clone()
    changed[:, 30:] = (changed[:, 30:] + 1) % 16
    _, logits2 = model.logits(ids, changed)
    # the prediction of token j sees tokens < j only
    assert torch.allclose(logits[:, :31], logits2[:, :31], atol=1e-5)
    assert not torch.allclose(logits[:, 31:], logits2[:, 31:])
    loss, parts = model.loss(ids, tokens)
    assert loss.ndim == 0 and parts["image_ce"] > 0 and parts["text_ce"] > 0
    g = torch.Generator().manual_seed(0)
    x = model.generate(["a handwritten 7"] * 3, generator=g, top_k=4)
    assert x.shape == (3, 1, 28, 28)
    save_checkpoint(model, tmp_path / "d.safetensors", schedule=None)
    assert load_checkpoint(tmp_path / "d.safetensors").model.config == TINY
