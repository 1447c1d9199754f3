"""Training and judging the first-DALL-E miniature (:class:`~ddpm_tutorial.models.dalle.DALLE`).

Two stages, as in Ramesh et al. (2021): :func:`train_tokenizer` fits the VQ-VAE that turns a
digit into 49 tokens (and restarts codebook entries that no digit uses, a standard remedy for
a collapsing codebook); :func:`train_transformer` fits the transformer on (caption, image
tokens) sequences with the tokeniser frozen. :func:`clip_rerank` is the paper's last step:
draw many images per caption and keep those CLIP scores highest. ``python -m ddpm_tutorial
train-dalle`` runs both stages (:func:`run_dalle_training`) and writes ``mnist-dalle``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checkpoints import save_checkpoint
from ..data.captions import caption_vocabulary
from ..metrics.classifier import prompted_digit_accuracy
from ..metrics.clip_score import clip_score
from ..models.dalle import DALLE, DALLEConfig
from ..training.fit import fit
from .clip import captioned_digits
from .latent_diffusion import reconstruction_metrics

__all__ = [
    "clip_rerank",
    "codebook_usage",
    "run_dalle_training",
    "train_tokenizer",
    "train_transformer",
]


def codebook_usage(tokens: Tensor, codebook_size: int) -> dict[str, float]:
    """How many entries the tokens use, and the perplexity exp(H) of their frequencies."""
    counts = torch.bincount(tokens.flatten(), minlength=codebook_size).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return {"used": int((counts > 0).sum()), "perplexity": float(entropy.exp())}


def train_tokenizer(
    model: DALLE,
    images: Tensor,
    *,
    steps: int = 1500,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    restart_every: int = 100,
) -> list[tuple[int, float, float]]:
    """Train ``model.vq`` on digits; every ``restart_every`` steps, unused entries are moved
    onto encoder outputs of the current batch. Returns ``(step, reconstruction, vq loss)`` rows."""
    g = torch.Generator().manual_seed(seed)
    vq = model.vq.train()
    K = model.config.codebook_size
    with torch.no_grad():  # start the codebook on real encoder outputs
        z = vq.encoder(images[torch.randint(0, len(images), (256,), generator=g)])
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        vq.quantizer.codebook.weight.copy_(flat[torch.randperm(len(flat), generator=g)[:K]])
    used = torch.zeros(K, dtype=torch.bool)
    batch: dict[str, Tensor] = {}

    def step_loss(step: int) -> tuple[Tensor, dict[str, Tensor]]:
        x = images[torch.randint(0, len(images), (batch_size,), generator=g)]
        recon, idx, vq_loss = vq(x)
        rec = F.mse_loss(recon, x)
        batch.update(x=x, idx=idx)
        return rec + vq_loss, {"reconstruction": rec, "vq": vq_loss}

    def restart_dead_entries(step: int) -> None:
        used[batch["idx"].unique()] = True
        if step % restart_every == 0 and step < 0.8 * steps:
            dead = (~used).nonzero().flatten()
            if len(dead):
                with torch.no_grad():
                    z = vq.encoder(batch["x"])
                    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
                    pick = torch.randint(0, len(flat), (len(dead),), generator=g)
                    vq.quantizer.codebook.weight[dead] = flat[pick]
            used[:] = False

    log = fit(
        vq,
        step_loss,
        steps=steps,
        lr=lr,
        log_every=max(1, steps // 10),
        after_step=restart_dead_entries,
    )
    return [(int(step), rec, vq_loss) for step, rec, vq_loss in log]


@torch.no_grad()
def _tokens(model: DALLE, images: Tensor, batch_size: int = 500) -> Tensor:
    return torch.cat(
        [model.vq.encode(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    )


def train_transformer(
    model: DALLE,
    text_ids: Tensor,
    image_tokens: Tensor,
    *,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[tuple[int, float, float]]:
    """Train the transformer (the tokeniser frozen). Returns ``(step, image CE, text CE)`` rows."""
    g = torch.Generator().manual_seed(seed)
    model.vq.requires_grad_(False)
    params = [p for n, p in model.named_parameters() if not n.startswith("vq.")]

    def step_loss(step: int) -> tuple[Tensor, dict[str, float]]:
        idx = torch.randint(0, len(text_ids), (batch_size,), generator=g)
        loss, parts = model.loss(text_ids[idx], image_tokens[idx])
        return loss, {"image_ce": parts["image_ce"], "text_ce": parts["text_ce"]}

    log = fit(
        model,
        step_loss,
        steps=steps,
        lr=lr,
        grad_clip=1.0,
        log_every=max(1, steps // 10),
        params=params,
    )
    model.requires_grad_(False)
    return [(int(step), image_ce, text_ce) for step, image_ce, text_ce in log]


@torch.no_grad()
def clip_rerank(
    clip: torch.nn.Module, images: Tensor, prompts: Sequence[str], candidates: int, keep: int
) -> Tensor:
    """DALL-E's reranking: of each consecutive group of ``candidates`` images drawn for one
    prompt, keep the ``keep`` with the highest CLIP score. Returns (N / candidates * keep, ...)."""
    if len(images) % candidates:
        raise ValueError(f"{len(images)} images do not split into groups of {candidates}")
    scores = clip_score(clip, images, list(prompts)).view(-1, candidates)  # type: ignore[arg-type]
    best = scores.topk(keep, dim=1).indices + torch.arange(0, len(images), candidates)[:, None]
    return images[best.flatten()]


def run_dalle_training(
    out_dir: str | Path,
    *,
    steps: int = 2000,
    seed: int = 0,
    data_source: str = "auto",
    command: str = "",
    vq_steps: int = 1500,
) -> dict[str, Any]:
    """Train ``mnist-dalle`` (tokeniser, then transformer) on the captioned training digits.

    Writes ``out_dir/model.safetensors`` with a card that records both stages: the tokeniser's
    held-out reconstruction and codebook usage, the transformer's held-out cross-entropy (in
    nats per image token, on at most 1,000 held-out digits drawn with ``seed``;
    ``log(codebook_size)`` is a uniform guess), and the prompted-digit accuracy of 100 samples.
    """
    torch.manual_seed(seed)
    model = DALLE(DALLEConfig(vocabulary=caption_vocabulary()))
    images, _, captions, _ = captioned_digits("train", source=data_source)
    test_images, _, test_captions, _ = captioned_digits("test", source=data_source)
    start = time.perf_counter()
    vq_log = train_tokenizer(model, images, steps=vq_steps, seed=seed)
    vq_time = time.perf_counter() - start
    per = len(captions[0])
    tokens = _tokens(model, images).repeat_interleave(per, dim=0)
    text_ids = model.encode_prompts([c for cs in captions for c in cs])
    start = time.perf_counter()
    tf_log = train_transformer(model, text_ids, tokens, steps=steps, seed=seed)
    tf_time = time.perf_counter() - start
    with torch.no_grad():
        test_tokens = _tokens(model, test_images)
        recon = model.vq.decode(test_tokens)
        first = [c[0] for c in test_captions]
        test_ids = model.encode_prompts(first)
        # at most 1,000 held-out digits, a seeded random subset (a split may be sorted by class)
        few = torch.randperm(len(first), generator=torch.Generator().manual_seed(seed))[:1000]
        _, parts = model.loss(test_ids[few], test_tokens[few])
        prompts = [f"a handwritten {d}" for d in range(10) for _ in range(10)]
        samples = model.generate(prompts, generator=torch.Generator().manual_seed(seed))
    metrics = {
        "tokenizer_heldout_reconstruction": reconstruction_metrics(test_images, recon),
        "codebook": codebook_usage(test_tokens, model.config.codebook_size),
        "heldout_image_ce": parts["image_ce"],
        "uniform_image_ce": math.log(model.config.codebook_size),
        "prompted_digit_accuracy_100": prompted_digit_accuracy(samples, prompts)["accuracy"],
    }
    return save_checkpoint(
        model,
        Path(out_dir) / "model.safetensors",
        schedule=None,
        name="mnist-dalle",
        card={
            "data": {
                "dataset": "captioned MNIST (Part II's captions)",
                "num_images": int(images.shape[0]),
                "pairs": int(text_ids.shape[0]),
                "source": data_source,
            },
            "training": {
                "tokenizer": {"steps": vq_steps, "wall_time_s": round(vq_time, 1), "log": vq_log},
                "transformer": {"steps": steps, "wall_time_s": round(tf_time, 1), "log": tf_log},
                "seed": seed,
                "torch_threads": torch.get_num_threads(),
            },
            "sampling": {"temperature": 1.0, "top_k": None},
            "metrics": metrics,
            "command": command,
        },
    )
