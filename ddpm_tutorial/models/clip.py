"""A small CLIP (Radford et al. 2021) for captioned digits: two encoders into one space.

An image encoder (a conv net) and a text encoder (the from-scratch
:class:`~ddpm_tutorial.models.TextTransformer` over a word vocabulary) each end in a linear
projection to ``embed_dim``; both embeddings are L2-normalised, and a learned temperature
scales their cosine similarities into logits::

    logits[i, j] = exp(logit_scale) * cos(image_embedding[i], text_embedding[j])

(CLIP's pseudo-code, Figure 3 of the paper; ``logit_scale`` starts at log(1 / 0.07) and is
clamped at log(100), as in CLIP). Training is in :mod:`ddpm_tutorial.systems.clip`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..text.tokenizer import WordTokenizer
from .text_transformer import TextTransformer

__all__ = ["CLIPConfig", "CLIP"]


@dataclass(frozen=True)
class CLIPConfig:
    """Sizes of :class:`CLIP`; ``vocabulary`` is the text encoder's word list."""

    vocabulary: tuple[str, ...] = ()
    max_len: int = 12
    embed_dim: int = 64
    image_channels: int = 32
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4
    init_temperature: float = 0.07

    def __post_init__(self) -> None:
        if not self.vocabulary:
            raise ValueError(
                "CLIPConfig needs a vocabulary, e.g. caption_vocabulary() from "
                "ddpm_tutorial.data.captions"
            )
        if self.embed_dim < 2 or self.image_channels < 1:
            raise ValueError(
                f"embed_dim must be >= 2 and image_channels >= 1; got {self.embed_dim}, "
                f"{self.image_channels}"
            )
        if not 0 < self.init_temperature < 1:
            raise ValueError(f"init_temperature must lie in (0, 1); got {self.init_temperature}")


class CLIP(nn.Module):
    """Images (B, 1, 28, 28) and token ids (B, L) -> unit embeddings (B, embed_dim) each."""

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__()
        self.config = cfg = config
        c = cfg.image_channels
        layers: list[nn.Module] = []
        for cin, cout in ((1, c), (c, 2 * c), (2 * c, 4 * c)):  # 28 -> 14 -> 7 -> 3
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.GroupNorm(8 if cout % 8 == 0 else 1, cout),
                nn.SiLU(),
                nn.Conv2d(cout, cout, 3, padding=1),
                nn.GroupNorm(8 if cout % 8 == 0 else 1, cout),
                nn.SiLU(),
                nn.MaxPool2d(2),
            ]
        self.image_encoder = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(4 * c * 9, cfg.embed_dim)
        )
        self.tokenizer = WordTokenizer(cfg.vocabulary, cfg.max_len)
        self.text_encoder = TextTransformer(
            len(self.tokenizer), cfg.max_len, cfg.text_dim, cfg.text_layers, cfg.text_heads
        )
        self.text_proj = nn.Linear(cfg.text_dim, cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.init_temperature)))

    def encode_image(self, images: Tensor) -> Tensor:
        """Unit image embeddings (B, embed_dim) of images (B, 1, 28, 28) in [-1, 1]."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"CLIP's image encoder expects (B, 1, 28, 28) images; got {tuple(images.shape)}"
            )
        return F.normalize(self.image_encoder(images), dim=-1)

    def encode_text(self, ids: Tensor) -> Tensor:
        """Unit text embeddings (B, embed_dim) of token ids (B, L) from :meth:`tokenize`."""
        _, _, pooled = self.text_encoder(ids)
        return F.normalize(self.text_proj(pooled), dim=-1)

    def tokenize(self, prompts: Sequence[str]) -> Tensor:
        """Token ids (B, max_len), on this model's device."""
        ids, _ = self.tokenizer.encode(prompts)
        return ids.to(self.logit_scale.device)

    def encode_prompts(self, prompts: Sequence[str]) -> Tensor:
        """Unit text embeddings (B, embed_dim) of prompts."""
        return self.encode_text(self.tokenize(prompts))

    @property
    def temperature(self) -> float:
        """The softmax temperature 1 / exp(logit_scale) (clamped at 1/100)."""
        return float(1 / self.logit_scale.detach().clamp(max=math.log(100)).exp())

    def forward(self, images: Tensor, ids: Tensor) -> Tensor:
        """Logits (B_img, B_txt): scaled cosine similarity of every image with every text."""
        scale = self.logit_scale.clamp(max=math.log(100)).exp()
        return scale * self.encode_image(images) @ self.encode_text(ids).T
