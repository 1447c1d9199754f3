"""Training the first-DALL-E miniature: the tokeniser learns, the transformer learns, reranking."""

from __future__ import annotations

import torch

from ddpm_tutorial.data.captions import caption_vocabulary
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.metrics.clip_score import load_clip
from ddpm_tutorial.models import DALLE, DALLEConfig
from ddpm_tutorial.systems.dalle import (
    clip_rerank,
    codebook_usage,
    train_tokenizer,
    train_transformer,
)

TINY = DALLEConfig(
    vocabulary=caption_vocabulary(),
    vq_channels=8,
    codebook_size=16,
    code_dim=4,
    dim=16,
    layers=1,
    heads=2,
)


def test_codebook_usage():
    assert codebook_usage(torch.tensor([0, 0, 1, 1]), 4) == {"used": 2, "perplexity": 2.0}


def test_both_stages_reduce_their_losses():
    images = load_mnist("train", verbose=False).images[::20]
    model = DALLE(TINY)
    log = train_tokenizer(model, images, steps=60, batch_size=32, restart_every=20)
    assert log[-1][1] < log[0][1]
    tokens = model.vq.encode(images)
    assert codebook_usage(tokens, 16)["used"] > 4  # restarts keep the codebook in use
    ids = model.encode_prompts([f"a handwritten {d}" for d in range(10)] * (len(images) // 10))
    tf_log = train_transformer(model, ids, tokens[: len(ids)], steps=40, batch_size=32, lr=3e-3)
    assert tf_log[-1][1] < tf_log[0][1]


def test_clip_rerank_keeps_the_best_scored_images():
    clip = load_clip()
    digits = load_mnist("test", verbose=False)
    sevens, ones = digits.images[digits.labels == 7][:3], digits.images[digits.labels == 1][:1]
    group = torch.cat([ones, sevens])  # one group of 4 candidates for the prompt "a 7"
    kept = clip_rerank(clip, group, ["a handwritten 7"] * 4, candidates=4, keep=3)
    assert kept.shape == (3, 1, 28, 28)
    assert not any(torch.equal(k, ones[0]) for k in kept)
