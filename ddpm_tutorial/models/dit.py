"""A transformer denoiser: DiT (Peebles & Xie 2023) and SD3's joint text-image blocks.

The image is cut into ``p x p`` patches, each patch becomes a token (a linear map of its
``C p^2`` pixels, plus a fixed 2-D sine-cosine position), and a stack of transformer blocks
replaces the UNet's convolutions (Peebles & Xie 2023, sec. 3.2, Figure 3):

* **adaLN-Zero.** The step embedding (plus the class embedding, when the config has classes)
  is the block's conditioning vector ``c``. A linear layer of ``c`` gives per-channel shifts,
  scales and gates ``(beta_1, gamma_1, alpha_1, beta_2, gamma_2, alpha_2)``; each sub-layer is
  ``x + alpha * f(LayerNorm(x) * (1 + gamma) + beta)``. That linear layer starts at zero, so
  every block starts as the identity ("adaLN-Zero" is the best of the conditionings Peebles &
  Xie compare, their Figure 5).
* **Unpatchify.** A last adaLN-modulated LayerNorm and a zero-initialised linear layer map each
  token back to ``C_out p^2`` numbers, rearranged into the image.

With ``context_dim`` set, the blocks are SD3's **MM-DiT** blocks (Esser et al. 2024, sec. 4,
Figure 2): the text tokens keep a stream of their own, with their own adaLN modulation, QKV
projections and MLP, and one attention runs over the concatenation of text and image tokens,
so every image token attends to the text and to the other image tokens (the UNet's
cross-attention lets only the image read the text).

``DiT(x_t, t, cond)`` has the UNet's call: (B, C, H, W), (B,) -> (B, C, H, W); the conditions
are those of :mod:`~ddpm_tutorial.models.conditioning` (``labels`` and ``context``).
Set ``record_attention = True`` to keep each block's attention weights in
``last_attention`` (a list of (B, heads, N, N) tensors; N = text tokens + image tokens) for
attention maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conditioning import ConditionInputs, condition_kinds
from .embeddings import TimestepEmbedding

__all__ = ["DiT", "DiTConfig", "patchify", "sincos_position_embedding", "unpatchify"]


@dataclass(frozen=True)
class DiTConfig:
    """Sizes of :class:`DiT`. Every field is a command-line flag (``--model.hidden-dim 96``).

    ``num_classes`` adds a class embedding to the step embedding (DiT's class conditioning);
    ``context_dim`` makes the blocks MM-DiT blocks over text tokens of that width.
    """

    in_channels: int = 1
    out_channels: int = 1
    image_size: int = 28
    patch_size: int = 2
    hidden_dim: int = 96
    depth: int = 6
    num_heads: int = 4
    mlp_ratio: float = 4.0
    num_classes: int | None = None
    context_dim: int | None = None

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"patch_size {self.patch_size} must divide image_size {self.image_size}"
            )
        if self.hidden_dim % self.num_heads or (self.hidden_dim // self.num_heads) % 2:
            raise ValueError(
                f"hidden_dim {self.hidden_dim} must split into num_heads={self.num_heads} heads "
                "of even width"
            )
        if self.hidden_dim % 4:
            raise ValueError(
                f"hidden_dim must be a multiple of 4 (2-D sine-cosine positions); got {self.hidden_dim}"
            )
        if self.depth < 1 or self.mlp_ratio <= 0:
            raise ValueError(
                f"depth must be >= 1 and mlp_ratio > 0; got {self.depth}, {self.mlp_ratio}"
            )

    # the UNet's conditions that a DiT does not take (see models.conditioning)
    @property
    def cond_dim(self) -> None:
        return None

    @property
    def cond_image_channels(self) -> int:
        return 0

    @property
    def conditioning(self) -> tuple[str, ...]:
        """The kinds of condition this network takes (``()`` for the unconditional DiT)."""
        return condition_kinds(self)

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


def patchify(x: Tensor, p: int) -> Tensor:
    """(B, C, H, W) -> (B, H/p * W/p, C p^2): row-major patches, each flattened (C, p, p)."""
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def unpatchify(tokens: Tensor, p: int, channels: int) -> Tensor:
    """The inverse of :func:`patchify`: (B, n*n, C p^2) -> (B, C, n p, n p)."""
    B, N, _ = tokens.shape
    n = math.isqrt(N)
    x = tokens.reshape(B, n, n, channels, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(B, channels, n * p, n * p)


def sincos_position_embedding(dim: int, grid: int) -> Tensor:
    """Fixed 2-D sine-cosine positions (DiT's, after MAE): (grid * grid, dim).

    Half the channels encode the row and half the column, each with the 1-D sinusoids of
    Vaswani et al. (2017, sec. 3.5) at ``dim / 4`` frequencies.
    """
    quarter = dim // 4
    freqs = 1.0 / 10_000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    pos = torch.arange(grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(pos, pos, indexing="ij")

    def one_axis(p: Tensor) -> Tensor:
        angles = p.reshape(-1, 1) * freqs[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([one_axis(rows), one_axis(cols)], dim=1).float()


def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """LayerNorm output (B, N, D) shifted and scaled per example: (B, D) each."""
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class _Stream(nn.Module):
    """One modality's weights in a block: adaLN modulation, QKV, output projection and MLP."""

    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
        )
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.modulation[1].weight)  # adaLN-Zero: the block starts as the identity
        nn.init.zeros_(self.modulation[1].bias)

    def pre_attention(self, x: Tensor, c: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(B, N, D), (B, D) -> qkv (B, N, 3D) and the six modulations (B, D) each."""
        mods = list(self.modulation(c).chunk(6, dim=1))
        shift1, scale1 = mods[0], mods[1]
        return self.qkv(_modulate(self.norm1(x), shift1, scale1)), mods

    def post_attention(self, x: Tensor, attended: Tensor, mods: list[Tensor]) -> Tensor:
        _, _, gate1, shift2, scale2, gate2 = mods
        x = x + gate1[:, None, :] * self.proj(attended)
        return x + gate2[:, None, :] * self.mlp(_modulate(self.norm2(x), shift2, scale2))


class DiTBlock(nn.Module):
    """A DiT block with adaLN-Zero; with ``joint=True`` an MM-DiT block over (text, image).

    ``forward(x, c, context, context_mask)``: image tokens (B, N, D), conditioning vector
    (B, D), text tokens (B, L, D) or None and their mask (B, L) bool or None. Returns the new
    image tokens and the new text tokens (None without text).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, joint: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.image = _Stream(dim, mlp_ratio)
        self.text = _Stream(dim, mlp_ratio) if joint else None
        self.record_attention = False
        self.attention: Tensor | None = None

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        qkv, mods = self.image.pre_attention(x, c)
        L = 0
        mask = None
        if self.text is not None:
            if context is None:
                raise ValueError("an MM-DiT block needs the text tokens (context)")
            qkv_text, mods_text = self.text.pre_attention(context, c)
            qkv = torch.cat([qkv_text, qkv], dim=1)  # text first: (B, L + N, 3D)
            L = context.shape[1]
            if context_mask is not None:  # padding text tokens are never attended to
                keep = torch.ones(x.shape[0], L + x.shape[1], dtype=torch.bool, device=x.device)
                keep[:, :L] = context_mask
                mask = keep[:, None, None, :]  # (B, 1, 1, L + N)
        attended = self._attend(qkv, mask)
        x = self.image.post_attention(x, attended[:, L:], mods)
        if self.text is not None:
            context = self.text.post_attention(context, attended[:, :L], mods_text)  # type: ignore[arg-type]
        return x, context

    def _attend(self, qkv: Tensor, mask: Tensor | None) -> Tensor:
        B, N, three_d = qkv.shape
        D = three_d // 3
        q, k, v = qkv.reshape(B, N, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        if self.record_attention:  # explicit softmax(q k^T / sqrt(d)), kept for the maps
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            self.attention = weights.detach()
            out = weights @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out.transpose(1, 2).reshape(B, N, D)  # (B, heads, N, d) -> (B, N, D)


class DiT(ConditionInputs, nn.Module):
    """Transformer noise (or velocity) predictor: (B, C, H, W), (B,) -> (B, C_out, H, W)."""

    def __init__(self, config: DiTConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DiTConfig()
        D, p = cfg.hidden_dim, cfg.patch_size
        self.patch_embed = nn.Conv2d(cfg.in_channels, D, p, stride=p)  # a linear map per patch
        self.register_buffer(
            "pos_embed",
            sincos_position_embedding(D, cfg.image_size // p)[None],
            persistent=False,
        )
        self.time_embed = TimestepEmbedding(D, D)
        self.build_condition_inputs(D)  # labels add to the step embedding; text gets a null token
        joint = cfg.context_dim is not None
        if joint:
            self.context_proj = nn.Linear(cfg.context_dim, D)  # type: ignore[arg-type]
        self.blocks = nn.ModuleList(
            DiTBlock(D, cfg.num_heads, cfg.mlp_ratio, joint) for _ in range(cfg.depth)
        )
        self.norm_out = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.modulation_out = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))
        self.linear_out = nn.Linear(D, p * p * cfg.out_channels)
        for layer in (self.modulation_out[1], self.linear_out):  # the network starts at zero
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def record_attention(self) -> bool:
        return all(block.record_attention for block in self.blocks)

    @record_attention.setter
    def record_attention(self, value: bool) -> None:
        for block in self.blocks:
            block.record_attention = value
            block.attention = None

    @property
    def last_attention(self) -> list[Tensor]:
        """Each block's attention weights of the last call, (B, heads, N, N), when recorded."""
        return [b.attention for b in self.blocks if b.attention is not None]

    def forward(
        self,
        x_t: Tensor,
        t: Tensor,
        cond: Any = None,
        *,
        cond_mask: Tensor | None = None,
        pooled: Tensor | None = None,
    ) -> Tensor:
        """Predict the noise (or velocity) in ``x_t``.

        Args:
            x_t: noisy images, shape (B, in_channels, image_size, image_size).
            t: steps, shape (B,) (integer steps, or flow matching's ``1000 t``).
            cond: ``labels`` (B,) and/or ``context`` (B, L, context_dim) tokens, or None.
            cond_mask: optional (B,) bool; False drops that example's condition.
            pooled: optional (B, hidden_dim), added to the conditioning vector of adaLN (the
                pooled text of :class:`~ddpm_tutorial.models.text_dit.TextDiT`).

        Returns:
            shape (B, out_channels, H, W).
        """
        cfg = self.config
        size = cfg.image_size
        if x_t.ndim != 4 or x_t.shape[1:] != (cfg.in_channels, size, size):
            raise ValueError(
                f"DiT expects x_t of shape (B, {cfg.in_channels}, {size}, {size}); got {tuple(x_t.shape)}"
            )
        if not isinstance(t, Tensor) or t.shape != (x_t.shape[0],):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"t must be a tensor of shape ({x_t.shape[0]},); got {got}")
        emb = self.time_embed(t)
        _, c, context, context_mask = self.fold_condition(cond, cond_mask, x_t, emb)
        if pooled is not None:
            c = c + pooled
        x = self.patch_embed(x_t).flatten(2).transpose(1, 2) + self.pos_embed  # (B, N, D)
        if context is not None:
            context = self.context_proj(context)  # (B, 1 + L, D)
        for block in self.blocks:
            x, context = block(x, c, context, context_mask)
        shift, scale = self.modulation_out(c).chunk(2, dim=1)
        x = self.linear_out(_modulate(self.norm_out(x), shift, scale))  # (B, N, C_out p^2)
        return unpatchify(x, cfg.patch_size, cfg.out_channels)
