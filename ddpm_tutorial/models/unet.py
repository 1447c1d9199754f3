"""A small UNet noise predictor for 28x28 images, with optional conditioning.

The architecture of Ho et al. (2020, appendix B), shrunk for MNIST: a sinusoidal step
embedding, residual blocks that add it, self-attention at the lowest resolution, skip
connections between the down and up paths (Ronneberger et al. 2015). Sizes come from the
frozen :class:`UNetConfig`.

Conditioning is built in, off by default, so that later chapters extend this network rather
than fork it. ``forward(x_t, t, cond, cond_mask=keep)`` accepts:

* ``labels`` (B,) int64, when ``num_classes`` is set: a learned embedding added to the step
  embedding (class-conditional DDPM);
* ``pooled`` (B, cond_dim), when ``cond_dim`` is set: a vector (say, a pooled text
  embedding) projected and added to the step embedding;
* ``context`` (B, L, context_dim) with optional ``context_mask`` (B, L) bool, when
  ``context_dim`` is set: tokens that the attention blocks cross-attend to (as Stable
  Diffusion does with text tokens);
* ``image`` (B, cond_image_channels, h, w), when ``cond_image_channels > 0``: an image
  resized to the input size and concatenated to it (a low-resolution image for
  super-resolution, as in Imagen's cascade).

``cond`` is a tensor when exactly one kind is configured, or a mapping from those names to
tensors. ``cond=None`` or ``cond_mask[b] = False`` replaces example b's condition by a learned
"no condition" (the null label, a null vector, a lone null token, a zero image), which is what
classifier-free guidance trains and samples with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .embeddings import TimestepEmbedding

__all__ = ["UNetConfig", "UNet", "attention"]

COND_KINDS = ("labels", "pooled", "context", "image")


@dataclass(frozen=True)
class UNetConfig:
    """Sizes and conditioning of :class:`UNet`. Every field is a command-line flag."""

    in_channels: int = 1
    out_channels: int = 1
    image_size: int = 28
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (7,)
    num_heads: int = 4
    num_groups: int = 8
    dropout: float = 0.0
    num_classes: int | None = None
    cond_dim: int | None = None
    context_dim: int | None = None
    cond_image_channels: int = 0

    def __post_init__(self) -> None:
        if self.base_channels < 1 or any(m < 1 for m in self.channel_mults):
            raise ValueError(
                f"base_channels and channel_mults must be positive; got {self.base_channels}, "
                f"{self.channel_mults}"
            )
        for mult in self.channel_mults:
            ch = self.base_channels * mult
            if ch % min(self.num_groups, ch) or ch % self.num_heads:
                raise ValueError(
                    f"channels {ch} must be divisible by num_groups={self.num_groups} and "
                    f"num_heads={self.num_heads}"
                )
        size = self.image_size
        for _ in self.channel_mults[:-1]:
            if size % 2:
                raise ValueError(
                    f"image_size {self.image_size} cannot be halved {len(self.channel_mults) - 1} "
                    "times evenly; use fewer channel_mults"
                )
            size //= 2
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1); got {self.dropout}")

    @property
    def conditioning(self) -> tuple[str, ...]:
        """The kinds of condition this network takes, in ``COND_KINDS`` order."""
        kinds = []
        if self.num_classes is not None:
            kinds.append("labels")
        if self.cond_dim is not None:
            kinds.append("pooled")
        if self.context_dim is not None:
            kinds.append("context")
        if self.cond_image_channels > 0:
            kinds.append("image")
        return tuple(kinds)


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


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the step embedding added in between, plus a skip."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = _norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = _norm(out_ch, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]  # (B, C) -> (B, C, 1, 1)
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H*W positions, then optional cross-attention.

    Cross-attention takes queries from the image and keys and values from the context tokens
    (Rombach et al. 2022, eq. 3): ``softmax(Q K^T / sqrt(d)) V``.
    """

    def __init__(self, channels: int, num_heads: int, groups: int, context_dim: int | None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.cross = None
        if context_dim is not None:
            self.cross_norm = _norm(channels, groups)
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


class Downsample(nn.Module):
    """Halve H and W with a stride-2 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour upsampling, then a convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """The residual blocks (and attention blocks) of one resolution."""

    def __init__(self, blocks: list[ResBlock], attns: list[AttentionBlock | None]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attns = nn.ModuleList(a if a is not None else nn.Identity() for a in attns)


class UNet(nn.Module):
    """Noise predictor ``eps_pred = UNet(x_t, t[, cond])``: (B, C, H, W), (B,) -> (B, C, H, W)."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        ch0 = cfg.base_channels
        emb_dim = 4 * ch0
        self.time_embed = TimestepEmbedding(ch0, emb_dim)
        # --- conditioning
        if cfg.num_classes is not None:
            self.label_embed = nn.Embedding(cfg.num_classes + 1, emb_dim)  # last row: no label
        if cfg.cond_dim is not None:
            self.pooled_proj = nn.Sequential(
                nn.Linear(cfg.cond_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
            )
            self.null_pooled = nn.Parameter(torch.zeros(cfg.cond_dim))
        if cfg.context_dim is not None:
            self.null_token = nn.Parameter(torch.randn(cfg.context_dim) * 0.02)
        # --- down path
        self.conv_in = nn.Conv2d(cfg.in_channels + cfg.cond_image_channels, ch0, 3, padding=1)
        skip_channels = [ch0]
        ch, res = ch0, cfg.image_size
        self.down = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        for i, mult in enumerate(cfg.channel_mults):
            out = ch0 * mult
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(ch, out, emb_dim, cfg.num_groups, cfg.dropout))
                attns.append(self._attention(out, res))
                ch = out
                skip_channels.append(ch)
            self.down.append(_Level(blocks, attns))
            if i < len(cfg.channel_mults) - 1:
                self.downsamples.append(Downsample(ch))
                skip_channels.append(ch)
                res //= 2
        # --- middle
        self.mid1 = ResBlock(ch, ch, emb_dim, cfg.num_groups, cfg.dropout)
        self.mid_attn = AttentionBlock(ch, cfg.num_heads, cfg.num_groups, cfg.context_dim)
        self.mid2 = ResBlock(ch, ch, emb_dim, cfg.num_groups, cfg.dropout)
        # --- up path
        self.up = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i, mult in reversed(list(enumerate(cfg.channel_mults))):
            out = ch0 * mult
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(
                    ResBlock(ch + skip_channels.pop(), out, emb_dim, cfg.num_groups, cfg.dropout)
                )
                attns.append(self._attention(out, res))
                ch = out
            self.up.append(_Level(blocks, attns))
            if i > 0:
                self.upsamples.append(Upsample(ch))
                res *= 2
        self.norm_out = _norm(ch, cfg.num_groups)
        self.conv_out = nn.Conv2d(ch, cfg.out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _attention(self, channels: int, resolution: int) -> AttentionBlock | None:
        if resolution not in self.config.attention_resolutions:
            return None
        return AttentionBlock(
            channels, self.config.num_heads, self.config.num_groups, self.config.context_dim
        )

    # ------------------------------------------------------------------ conditioning
    def _parse_cond(self, cond: Any, B: int) -> dict[str, Tensor]:
        kinds = self.config.conditioning
        if cond is None:
            return {}
        if not kinds:
            raise ValueError(
                "this UNet is unconditional (no conditioning in its config); got a cond"
            )
        if isinstance(cond, Tensor):
            if len(kinds) != 1:
                raise ValueError(f"this UNet takes several conditions {kinds}; pass cond as a dict")
            cond = {kinds[0]: cond}
        if not isinstance(cond, Mapping):
            raise TypeError(
                f"cond must be a Tensor, a dict of Tensors or None; got {type(cond).__name__}"
            )
        unknown = set(cond) - set(kinds) - {"context_mask"}
        if unknown:
            raise ValueError(f"unexpected condition(s) {sorted(unknown)}; this UNet takes {kinds}")
        for name, value in cond.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"cond[{name!r}] must be a Tensor; got {type(value).__name__}")
            if value.shape[0] != B:
                raise ValueError(f"cond[{name!r}] has batch size {value.shape[0]} but x_t has {B}")
        return dict(cond)

    def _condition(
        self, cond: Any, cond_mask: Tensor | None, x: Tensor, emb: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Fold the condition into (input, step embedding, context, context mask)."""
        cfg, B = self.config, x.shape[0]
        parts = self._parse_cond(cond, B)
        if cond is None:
            keep = torch.zeros(B, dtype=torch.bool, device=x.device)
        elif cond_mask is None:
            keep = torch.ones(B, dtype=torch.bool, device=x.device)
        else:
            if cond_mask.shape != (B,) or cond_mask.dtype != torch.bool:
                raise ValueError(
                    f"cond_mask must be a bool tensor of shape ({B},); got {cond_mask.dtype} {tuple(cond_mask.shape)}"
                )
            keep = cond_mask.to(x.device)
        if cfg.num_classes is not None:
            null = torch.full((B,), cfg.num_classes, dtype=torch.long, device=x.device)
            labels = parts.get("labels")
            if labels is None:
                labels = null  # no condition: the learned null label
            else:
                if labels.dtype != torch.long or labels.shape != (B,):
                    raise ValueError(
                        f"labels must be int64 of shape ({B},); got {labels.dtype} {tuple(labels.shape)}"
                    )
                if int(labels.min()) < 0 or int(labels.max()) >= cfg.num_classes:
                    raise ValueError(
                        f"labels must lie in [0, {cfg.num_classes}); got {int(labels.min()) if int(labels.min()) < 0 else int(labels.max())}"
                    )
            emb = emb + self.label_embed(torch.where(keep, labels, null))
        if cfg.cond_dim is not None:
            pooled = parts.get("pooled")
            if pooled is None:
                pooled = self.null_pooled.expand(B, -1)
            elif pooled.shape != (B, cfg.cond_dim):
                raise ValueError(
                    f"pooled must have shape ({B}, {cfg.cond_dim}); got {tuple(pooled.shape)}"
                )
            pooled = torch.where(keep[:, None], pooled, self.null_pooled.expand(B, -1))
            emb = emb + self.pooled_proj(pooled)
        context = context_mask = None
        if cfg.context_dim is not None:
            null_tok = self.null_token.expand(B, 1, -1)  # (B, 1, D): always present, never masked
            tokens = parts.get("context")
            if tokens is None:
                context = null_tok
                context_mask = torch.ones(B, 1, dtype=torch.bool, device=x.device)
            else:
                if tokens.ndim != 3 or tokens.shape[2] != cfg.context_dim:
                    raise ValueError(
                        f"context must have shape (B, L, {cfg.context_dim}); got {tuple(tokens.shape)}"
                    )
                L = tokens.shape[1]
                mask = parts.get("context_mask")
                mask = (
                    torch.ones(B, L, dtype=torch.bool, device=x.device)
                    if mask is None
                    else mask.bool()
                )
                context = torch.cat([null_tok, tokens], dim=1)  # (B, 1 + L, D)
                context_mask = torch.cat(
                    [torch.ones(B, 1, dtype=torch.bool, device=x.device), mask & keep[:, None]],
                    dim=1,
                )
        if cfg.cond_image_channels > 0:
            image = parts.get("image")
            if image is None:
                image = x.new_zeros(B, cfg.cond_image_channels, *x.shape[2:])
            else:
                if image.ndim != 4 or image.shape[1] != cfg.cond_image_channels:
                    raise ValueError(
                        f"image must have shape (B, {cfg.cond_image_channels}, h, w); got {tuple(image.shape)}"
                    )
                if image.shape[2:] != x.shape[2:]:
                    image = F.interpolate(
                        image, size=x.shape[2:], mode="bilinear", align_corners=False
                    )
                image = image * keep[:, None, None, None].to(image.dtype)
            x = torch.cat([x, image], dim=1)
        return x, emb, context, context_mask

    # ------------------------------------------------------------------ forward
    def forward(
        self, x_t: Tensor, t: Tensor, cond: Any = None, *, cond_mask: Tensor | None = None
    ) -> Tensor:
        """Predict the noise in ``x_t``.

        Args:
            x_t: noisy images, shape (B, in_channels, image_size, image_size).
            t: steps, shape (B,), int64.
            cond: the condition (see the module docstring), or None for "no condition".
            cond_mask: optional (B,) bool; False drops that example's condition.

        Returns:
            eps_pred, shape (B, out_channels, H, W).
        """
        cfg = self.config
        if x_t.ndim != 4 or x_t.shape[1] != cfg.in_channels:
            raise ValueError(
                f"UNet expects x_t of shape (B, {cfg.in_channels}, H, W); got {tuple(x_t.shape)}"
            )
        if x_t.shape[2] != cfg.image_size or x_t.shape[3] != cfg.image_size:
            raise ValueError(
                f"UNet was built for {cfg.image_size}x{cfg.image_size} images; got {x_t.shape[2]}x{x_t.shape[3]}"
            )
        if x_t.dtype != self.conv_in.weight.dtype:
            raise TypeError(
                f"x_t has dtype {x_t.dtype} but the UNet's weights are {self.conv_in.weight.dtype}"
            )
        if not isinstance(t, Tensor) or t.shape != (x_t.shape[0],):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"t must be a tensor of shape ({x_t.shape[0]},); got {got}")
        emb = self.time_embed(t)
        x, emb, context, context_mask = self._condition(cond, cond_mask, x_t, emb)
        h = self.conv_in(x)
        skips = [h]
        for i, level in enumerate(self.down):
            for block, attn in zip(level.blocks, level.attns):
                h = block(h, emb)
                if isinstance(attn, AttentionBlock):
                    h = attn(h, context, context_mask)
                skips.append(h)
            if i < len(self.downsamples):
                h = self.downsamples[i](h)
                skips.append(h)
        h = self.mid1(h, emb)
        h = self.mid_attn(h, context, context_mask)
        h = self.mid2(h, emb)
        for i, level in enumerate(self.up):
            for block, attn in zip(level.blocks, level.attns):
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
                if isinstance(attn, AttentionBlock):
                    h = attn(h, context, context_mask)
            if i < len(self.upsamples):
                h = self.upsamples[i](h)
        return self.conv_out(F.silu(self.norm_out(h)))
