r"""The first DALL-E in miniature: discrete image tokens and one transformer over text and image.

DALL-E (Ramesh et al. 2021) generates an image as a continuation of its caption. Stage 1
compresses each image into a grid of discrete tokens with a discrete autoencoder (theirs: a
dVAE trained with the Gumbel-softmax relaxation, 256x256 -> 32x32 tokens from a codebook of
8,192). Stage 2 trains one decoder-only transformer on the concatenation
``[caption tokens, image tokens]`` to predict every next token, and sampling draws the image
tokens one by one given the caption.

Here stage 1 is a VQ-VAE (van den Oord et al. 2017), the simpler cousin of the dVAE: a
convolutional encoder maps a 28x28 digit to a 7x7 grid of vectors, each replaced by its
nearest codebook entry (``codebook_size`` entries), and a decoder maps the quantised grid back
to the digit. Gradients pass the quantiser straight through, and the loss adds the codebook
and commitment terms

.. math::  \mathcal L = \lVert x - D(z_q)\rVert^2 + \lVert \mathrm{sg}[z_e] - e\rVert^2
           + \beta\,\lVert z_e - \mathrm{sg}[e]\rVert^2 .

Stage 2 is :class:`DALLE`: a causal transformer over 12 word tokens and 49 image tokens;
the image loss carries 7/8 of the weight and the text loss 1/8, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..text.tokenizer import WordTokenizer

__all__ = ["DALLE", "DALLEConfig", "VQAutoencoder", "VectorQuantizer"]


class VectorQuantizer(nn.Module):
    """Nearest-codebook-entry quantisation with the straight-through gradient.

    ``forward(z_e)`` takes (B, D, H, W) and returns ``(z_q, indices, loss)``: the quantised
    grid (B, D, H, W) whose gradient is copied to ``z_e``, the (B, H, W) int64 indices, and the
    codebook plus ``beta`` times the commitment loss.
    """

    def __init__(self, codebook_size: int, code_dim: int, beta: float = 0.25) -> None:
        super().__init__()
        self.codebook = nn.Embedding(codebook_size, code_dim)
        nn.init.uniform_(self.codebook.weight, -1 / codebook_size, 1 / codebook_size)
        self.beta = beta

    def indices(self, z_e: Tensor) -> Tensor:
        """The index of the nearest entry for each position: (B, D, H, W) -> (B, H, W)."""
        B, D, H, W = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, D)
        dist = (
            flat.pow(2).sum(1, keepdim=True)
            - 2 * flat @ self.codebook.weight.T
            + self.codebook.weight.pow(2).sum(1)[None]
        )
        return dist.argmin(1).view(B, H, W)

    def lookup(self, indices: Tensor) -> Tensor:
        """Codebook vectors of indices (B, H, W) as a grid (B, D, H, W)."""
        return self.codebook(indices).permute(0, 3, 1, 2)

    def forward(self, z_e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        idx = self.indices(z_e)
        e = self.lookup(idx)
        loss = F.mse_loss(e, z_e.detach()) + self.beta * F.mse_loss(z_e, e.detach())
        z_q = z_e + (e - z_e).detach()  # straight-through: forward e, backward identity
        return z_q, idx, loss


class VQAutoencoder(nn.Module):
    """28x28 digit <-> 7x7 grid of codebook indices."""

    def __init__(self, channels: int, codebook_size: int, code_dim: int, beta: float) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1),  # 28 -> 14
            nn.SiLU(),
            nn.Conv2d(channels, channels, 4, stride=2, padding=1),  # 14 -> 7
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, code_dim, 1),
        )
        self.quantizer = VectorQuantizer(codebook_size, code_dim, beta)
        self.decoder = nn.Sequential(
            nn.Conv2d(code_dim, channels, 3, padding=1),
            nn.SiLU(),
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),  # 7 -> 14
            nn.SiLU(),
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),  # 14 -> 28
            nn.SiLU(),
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def encode(self, images: Tensor) -> Tensor:
        """Token indices (B, 49) of digits (B, 1, 28, 28) in [-1, 1]."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected (B, 1, 28, 28) digits; got {tuple(images.shape)}")
        return self.quantizer.indices(self.encoder(images)).flatten(1)

    def decode(self, indices: Tensor) -> Tensor:
        """Digits (B, 1, 28, 28) from token indices (B, 49)."""
        if indices.ndim != 2 or indices.shape[1] != 49:
            raise ValueError(f"expected (B, 49) token indices; got {tuple(indices.shape)}")
        grid = indices.view(-1, 7, 7)
        return self.decoder(self.quantizer.lookup(grid))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(reconstruction, indices (B, 49), vq loss)``."""
        z_q, idx, loss = self.quantizer(self.encoder(images))
        return self.decoder(z_q), idx.flatten(1), loss


@dataclass(frozen=True)
class DALLEConfig:
    """Sizes of the tokeniser (VQ-VAE) and of the transformer."""

    vocabulary: tuple[str, ...] = ()
    max_text_len: int = 12
    vq_channels: int = 32
    codebook_size: int = 64
    code_dim: int = 16
    vq_beta: float = 0.25
    dim: int = 96
    layers: int = 4
    heads: int = 4
    dropout: float = 0.0
    image_loss_weight: float = 7 / 8

    def __post_init__(self) -> None:
        if not self.vocabulary:
            raise ValueError("DALLEConfig needs the caption vocabulary (a tuple of words)")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        if not 0 < self.image_loss_weight <= 1:
            raise ValueError(f"image_loss_weight must lie in (0, 1]; got {self.image_loss_weight}")


IMAGE_TOKENS = 49


class DALLE(nn.Module):
    """A VQ tokeniser and a causal transformer over ``[12 text tokens, 49 image tokens]``.

    Sequence layout: the text ids (padding included, as DALL-E pads every caption to its full
    length), then a begin-of-image token followed by the first 48 image tokens as inputs. The
    output at text position i predicts text token i + 1; the output at the begin-of-image
    token and after each image token predicts the next image token.
    """

    def __init__(self, config: DALLEConfig | None = None) -> None:
        super().__init__()
        if config is None:
            raise ValueError("DALLE needs a DALLEConfig with the caption vocabulary")
        self.config = cfg = config
        self.tokenizer = WordTokenizer(cfg.vocabulary, cfg.max_text_len)
        self.vq = VQAutoencoder(cfg.vq_channels, cfg.codebook_size, cfg.code_dim, cfg.vq_beta)
        self.text_embed = nn.Embedding(len(self.tokenizer), cfg.dim)
        self.image_embed = nn.Embedding(cfg.codebook_size + 1, cfg.dim)  # + begin-of-image
        self.pos = nn.Parameter(torch.randn(1, cfg.max_text_len + IMAGE_TOKENS, cfg.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.dim,
            cfg.heads,
            4 * cfg.dim,
            cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.text_head = nn.Linear(cfg.dim, len(self.tokenizer))
        self.image_head = nn.Linear(cfg.dim, cfg.codebook_size)
        L = cfg.max_text_len + IMAGE_TOKENS
        self.register_buffer(
            "causal", torch.triu(torch.ones(L, L, dtype=torch.bool), 1), persistent=False
        )

    @property
    def bos(self) -> int:
        return self.config.codebook_size

    def encode_prompts(self, prompts: Sequence[str]) -> Tensor:
        """Word ids (B, max_text_len) on this model's device."""
        ids, _ = self.tokenizer.encode(list(prompts))
        return ids.to(self.pos.device)

    def logits(self, text_ids: Tensor, image_tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Text logits (B, Lt, V) and image logits (B, n + 1, K) for ``n`` image tokens so far."""
        B, Lt = text_ids.shape
        if Lt != self.config.max_text_len:
            raise ValueError(f"text_ids must have {self.config.max_text_len} columns; got {Lt}")
        bos = torch.full((B, 1), self.bos, dtype=torch.long, device=text_ids.device)
        img_in = torch.cat([bos, image_tokens], dim=1)[:, :IMAGE_TOKENS]
        h = torch.cat([self.text_embed(text_ids), self.image_embed(img_in)], dim=1)
        n = h.shape[1]
        h = self.transformer(h + self.pos[:, :n], mask=self.causal[:n, :n], is_causal=True)
        h = self.norm(h)
        return self.text_head(h[:, :Lt]), self.image_head(h[:, Lt:])

    def loss(self, text_ids: Tensor, image_tokens: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Weighted next-token cross-entropy of the text and the 49 image tokens."""
        if image_tokens.shape[1:] != (IMAGE_TOKENS,):
            raise ValueError(
                f"image_tokens must be (B, {IMAGE_TOKENS}); got {tuple(image_tokens.shape)}"
            )
        text_logits, image_logits = self.logits(text_ids, image_tokens)
        text_ce = F.cross_entropy(text_logits[:, :-1].flatten(0, 1), text_ids[:, 1:].flatten())
        image_ce = F.cross_entropy(image_logits.flatten(0, 1), image_tokens.flatten())
        w = self.config.image_loss_weight
        return w * image_ce + (1 - w) * text_ce, {
            "image_ce": float(image_ce.detach()),
            "text_ce": float(text_ce.detach()),
        }

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[str],
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Digits (B, 1, 28, 28) for the prompts: 49 image tokens drawn one by one, decoded."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        ids = self.encode_prompts(prompts)
        tokens = torch.zeros(len(prompts), 0, dtype=torch.long, device=ids.device)
        for _ in range(IMAGE_TOKENS):
            _, image_logits = self.logits(ids, tokens)
            logits = image_logits[:, -1] / temperature
            if top_k is not None:
                kth = logits.topk(top_k, dim=1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = logits.softmax(1).cpu()
            nxt = torch.multinomial(probs, 1, generator=generator).to(ids.device)
            tokens = torch.cat([tokens, nxt], dim=1)
        return self.vq.decode(tokens)
