"""CLIP training and scoring: the contrastive loss, CLIP score, zero-shot and retrieval."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddpm_tutorial.data.captions import caption_vocabulary
from ddpm_tutorial.metrics.clip_score import clip_score, load_clip
from ddpm_tutorial.models import CLIP, CLIPConfig
from ddpm_tutorial.systems.clip import (
    captioned_digits,
    contrastive_loss,
    retrieval_metrics,
    train_clip,
    zero_shot_accuracy,
)


def test_contrastive_loss_is_the_mean_of_two_cross_entropies():
    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    target = torch.arange(5)
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert torch.allclose(contrastive_loss(logits), expected)
    assert torch.allclose(contrastive_loss(logits, torch.arange(5)), expected)


def test_equal_captions_share_the_target():
    # texts 0 and 1 are the same caption: image 0 matching text 1 is not a mistake
    logits = torch.tensor([[0.0, 10.0, -10.0], [10.0, 0.0, -10.0], [-10.0, -10.0, 10.0]])
    ids = torch.tensor([7, 7, 2])
    assert contrastive_loss(logits, ids) < 0.6 * contrastive_loss(logits)
    # with shared targets the best a pair of duplicates can do is equal logits: loss log 2
    tied = torch.tensor([[10.0, 10.0, -10.0], [10.0, 10.0, -10.0], [-10.0, -10.0, 10.0]])
    tied.requires_grad_(True)
    loss = contrastive_loss(tied, ids)
    loss.backward()
    assert tied.grad[0, 0] == pytest.approx(float(tied.grad[0, 1]), abs=1e-6)
    with pytest.raises(ValueError, match="square"):
        contrastive_loss(torch.zeros(2, 3))


def test_a_short_training_lowers_the_loss_and_scores_are_clipped():
    torch.manual_seed(0)
    images, labels, captions, thresholds = captioned_digits("train", captions_per_image=2)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:256]
    images, labels = images[pick], labels[pick]
    captions = [captions[i] for i in pick.tolist()]
    model = CLIP(
        CLIPConfig(
            vocabulary=caption_vocabulary(),
            image_channels=8,
            text_dim=16,
            text_layers=1,
            text_heads=2,
        )
    )
    ids = model.tokenize([c[0] for c in captions[:64]])
    with torch.no_grad():
        before = float(contrastive_loss(model(images[:64], ids)))
    train_clip(model, images, captions, steps=30, batch_size=64, augment=False)
    with torch.no_grad():
        after = float(contrastive_loss(model(images[:64], ids)))
    assert after < before
    s = clip_score(model, images[:10], [c[0] for c in captions[:10]])
    assert s.shape == (10,) and (s >= 0).all() and (s <= 100).all()
    r = retrieval_metrics(
        model, images[:50], labels[:50], [c[0] for c in captions[:50]], thresholds
    )
    assert 0 <= r["text_to_image_r1"] <= r["text_to_image_r5"] <= 1
    assert r["chance_r1"] == 0.02
    with pytest.raises(ValueError, match="one each"):
        clip_score(model, images[:3], ["one"])
    with pytest.raises(TypeError, match="wrap"):
        clip_score(model, images[:1], "one")


def test_the_shipped_clip_reads_held_out_digits():
    model = load_clip()
    images, labels, captions, thresholds = captioned_digits("test", captions_per_image=1)
    assert zero_shot_accuracy(model, images, labels) > 0.9
    own = clip_score(model, images[:200], [c[0] for c in captions[:200]]).mean()
    other = clip_score(model, images[:200], [c[0] for c in captions[200:400]]).mean()
    assert own > other + 5
    card_metrics = __import__("ddpm_tutorial.checkpoints", fromlist=["read_card"]).read_card(
        "data/checkpoints/mnist-clip.json"
    )["metrics"]
    assert card_metrics["zero_shot_accuracy"] > 0.9
