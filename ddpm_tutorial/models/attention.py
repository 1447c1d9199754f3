"""Attention for the UNet: self-attention over the pixels, and cross-attention to text tokens.

Both are ``softmax(Q K^T / sqrt(d)) V`` (Vaswani et al. 2017, eq. 1). In self-attention the
queries, keys and values all come from the image; in cross-attention (Part II: how the text
reaches the image, Rombach et al. 2022, eq. 3) the queries come from the image and the keys and
values from the context tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AttentionBlock", "NoAttention", "attention", "group_norm"]


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm over ``channels`` in ``min(groups, channels)`` groups."""
    return nn.GroupNorm(min(groups, channels), channels)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """``softmax(Q K^T / sqrt(d)) V`` (Vaswani et al. 2017, eq. 1) over (B, heads, N, d) tensors.

    ``mask`` (B, 1, 1, L) bool keeps the keys where it is True. On a CPU, under bfloat16
    autocast, the product is taken in float32: PyTorch's CPU flash-attention backward in
    bfloat16 took over a quarter of a training step on the book's UNet (49 tokens at 7x7), and
    in float32 it is a few percent. The result comes back in the inputs' dtype.
    """
    if q.device.type == "cpu" and q.dtype != torch.float32:
        with torch.autocast("cpu", enabled=False):
            out = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
        return out.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H*W positions, then optional cross-attention.

    Cross-attention (present when ``context_dim`` is given) takes queries from the image and
    keys and values from the context tokens (Rombach et al. 2022, eq. 3). Both branches end in
    a zero-initialised projection, so a fresh block is the identity.
    """

    def __init__(self, channels: int, num_heads: int, groups: int, context_dim: int | None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm = group_norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.cross = None
        if context_dim is not None:
            self.cross_norm = group_norm(channels, groups)
            self.to_q = nn.Linear(channels, channels)
            self.to_kv = nn.Linear(context_dim, 2 * channels)
            self.cross = nn.Linear(channels, channels)
            nn.init.zeros_(self.cross.weight)
            nn.init.zeros_(self.cross.bias)

    def _heads(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        return (
            x.reshape(B, N, self.num_heads, C // self.num_heads).transpose(1, 2).contiguous()
        )  # (B, h, N, d)

    def forward(
        self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None
    ) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W); ``context`` (B, L, D) and ``context_mask`` (B, L) bool."""
        B, C, H, W = x.shape
        q, k, v = (
            self.qkv(self.norm(x)).reshape(B, 3, C, H * W).transpose(2, 3).unbind(1)
        )  # (B, HW, C)
        h = attention(self._heads(q), self._heads(k), self._heads(v))
        h = h.transpose(1, 2).reshape(B, H * W, C).transpose(1, 2).reshape(B, C, H, W)
        x = x + self.proj(h)
        if self.cross is not None:
            if context is None:
                raise ValueError("this attention block cross-attends and needs a context")
            q = self.to_q(self.cross_norm(x).reshape(B, C, H * W).transpose(1, 2))  # (B, HW, C)
            k, v = self.to_kv(context).chunk(2, dim=-1)  # (B, L, C) each
            mask = None if context_mask is None else context_mask[:, None, None, :]  # (B, 1, 1, L)
            h = attention(self._heads(q), self._heads(k), self._heads(v), mask)
            h = h.transpose(1, 2).reshape(B, H * W, C)
            x = x + self.cross(h).transpose(1, 2).reshape(B, C, H, W)
        return x


class NoAttention(nn.Module):
    """The stand-in at resolutions without attention: returns ``x`` unchanged (no parameters)."""

    def forward(
        self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None
    ) -> Tensor:
        return x
