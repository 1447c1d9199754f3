"""A small UNet noise predictor for 28x28 images.

The architecture of Ho et al. (2020, appendix B), shrunk for MNIST: a sinusoidal step
embedding, residual blocks that add it, self-attention at the lowest resolution, skip
connections between the down and up paths (Ronneberger et al. 2015). Sizes come from the
frozen :class:`UNetConfig`.

``UNet(x_t, t)`` is all that Parts I and III use. The conditions of later chapters (a class
label, a text, a CLIP embedding, a low-resolution image) are switched on by config fields and
handled in :mod:`~ddpm_tutorial.models.conditioning`, so that those chapters extend this
network rather than fork it; the cross-attention they need is in
:mod:`~ddpm_tutorial.models.attention`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import AttentionBlock, NoAttention, group_norm
from .conditioning import ConditionInputs, condition_kinds
from .embeddings import TimestepEmbedding

__all__ = ["UNetConfig", "UNet"]


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of :class:`UNet`, and the conditions it takes. Every field is a command-line flag.

    The last four fields switch on the inputs of later chapters (see
    :mod:`~ddpm_tutorial.models.conditioning`); all off is the unconditional UNet of Part I.
    """

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
        """The kinds of condition this network takes (``()`` for Part I's UNet)."""
        return condition_kinds(self)

    def unet_config(self) -> UNetConfig:
        """The plain :class:`UNetConfig` fields of this config (of a subclass's, too)."""
        return UNetConfig(**{f: getattr(self, f) for f in UNetConfig.__dataclass_fields__})


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the step embedding added in between, plus a skip."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = group_norm(out_ch, groups)
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
        self.attns = nn.ModuleList(a if a is not None else NoAttention() for a in attns)


class UNet(ConditionInputs, nn.Module):
    """Noise predictor ``eps_pred = UNet(x_t, t[, cond])``: (B, C, H, W), (B,) -> (B, C, H, W)."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        ch0 = cfg.base_channels
        emb_dim = 4 * ch0
        self.time_embed = TimestepEmbedding(ch0, emb_dim)
        self.build_condition_inputs(emb_dim)  # Part II on: labels, text, images (none by default)
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
        self.norm_out = group_norm(ch, cfg.num_groups)
        self.conv_out = nn.Conv2d(ch, cfg.out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _attention(self, channels: int, resolution: int) -> AttentionBlock | None:
        if resolution not in self.config.attention_resolutions:
            return None
        return AttentionBlock(
            channels, self.config.num_heads, self.config.num_groups, self.config.context_dim
        )

    # ------------------------------------------------------------------ forward
    def forward(
        self, x_t: Tensor, t: Tensor, cond: Any = None, *, cond_mask: Tensor | None = None
    ) -> Tensor:
        """Predict the noise in ``x_t``.

        Args:
            x_t: noisy images, shape (B, in_channels, image_size, image_size).
            t: steps, shape (B,), int64.
            cond: the condition (see :mod:`~ddpm_tutorial.models.conditioning`), or None.
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
        x, emb, context, context_mask = self.fold_condition(cond, cond_mask, x_t, emb)
        h = self.conv_in(x)
        skips = [h]
        for i, level in enumerate(self.down):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(h, emb), context, context_mask)
                skips.append(h)
            if i < len(self.downsamples):
                h = self.downsamples[i](h)
                skips.append(h)
        h = self.mid1(h, emb)
        h = self.mid_attn(h, context, context_mask)
        h = self.mid2(h, emb)
        for i, level in enumerate(self.up):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(torch.cat([h, skips.pop()], dim=1), emb), context, context_mask)
            if i < len(self.upsamples):
                h = self.upsamples[i](h)
        return self.conv_out(F.silu(self.norm_out(h)))
