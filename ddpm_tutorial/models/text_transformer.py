"""A small transformer text encoder, trained from scratch together with the denoiser.

Token embeddings plus learned positions, then pre-norm transformer blocks (Vaswani et al.
2017; the pre-norm order of GPT-2 and CLIP's text tower): each block is
``h = h + Attention(LN(h))`` then ``h = h + MLP(LN(h))``, with padding positions masked out of
the attention. It returns every token's output (for cross-attention) and their mean over the
real tokens (a pooled embedding, to add to the step embedding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TextTransformer"]


class _Block(nn.Module):
    """Pre-norm self-attention and MLP, each with a residual connection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        B, L, D = h.shape
        q, k, v = (
            self.qkv(self.norm1(h)).reshape(B, L, 3, self.num_heads, D // self.num_heads).unbind(2)
        )
        q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # (B, heads, L, d)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])  # keys masked
        h = h + self.proj(a.transpose(1, 2).reshape(B, L, D))
        return h + self.mlp(self.norm2(h))


class TextTransformer(nn.Module):
    """Token ids ``(B, L)`` -> token features ``(B, L, dim)``, mask ``(B, L)``, pooled ``(B, dim)``.

    Index 0 is padding (see :class:`~ddpm_tutorial.text.tokenizer.WordTokenizer`).
    """

    def __init__(
        self, vocab_size: int, max_len: int, dim: int = 64, num_layers: int = 2, num_heads: int = 4
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"text dim {dim} must be divisible by num_heads={num_heads}")
        self.max_len = max_len
        self.token_embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos_embed = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(dim, num_heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if ids.ndim != 2 or ids.dtype != torch.long:
            raise ValueError(
                f"token ids must be int64 of shape (B, L); got {ids.dtype} {tuple(ids.shape)}"
            )
        B, L = ids.shape
        if L > self.max_len:
            raise ValueError(f"{L} tokens but this encoder takes at most {self.max_len}")
        if int(ids.min()) < 0 or int(ids.max()) >= self.token_embed.num_embeddings:
            raise ValueError(
                f"token ids must lie in [0, {self.token_embed.num_embeddings}); got {int(ids.max())}"
            )
        mask = ids != 0  # (B, L)
        if not bool(mask.any(dim=1).all()):
            raise ValueError("every prompt needs at least one token that is not padding")
        h = self.token_embed(ids) + self.pos_embed[:L]  # (B, L, dim)
        for block in self.blocks:
            h = block(h, mask)
        h = self.norm(h)
        m = mask[..., None].to(h.dtype)  # (B, L, 1)
        pooled = (h * m).sum(1) / m.sum(1)  # mean over real tokens, (B, dim)
        return h, mask, pooled
