"""What a conditional UNet adds: the inputs of Parts II and IV, and "no condition".

:class:`~ddpm_tutorial.models.unet.UNet` takes these inputs through :class:`ConditionInputs`,
each switched on by a field of its config and off by default:

* ``labels`` (B,) int64, when ``num_classes`` is set: a learned embedding added to the step
  embedding (class-conditional DDPM);
* ``pooled`` (B, cond_dim), when ``cond_dim`` is set: a vector (a pooled text embedding, a CLIP
  image embedding, a noise level) projected by a small MLP and added to the step embedding;
* ``context`` (B, L, context_dim) with optional ``context_mask`` (B, L) bool, when
  ``context_dim`` is set: tokens that the attention blocks cross-attend to (as Stable
  Diffusion does with text tokens, Rombach et al. 2022, sec. 3.3);
* ``image`` (B, cond_image_channels, h, w), when ``cond_image_channels > 0``: an image
  resized to the input size and concatenated to it (a low-resolution image for
  super-resolution, as in SR3 and Imagen's cascade).

``cond`` is a tensor when exactly one kind is configured, or a mapping from those names to
tensors. ``cond=None`` or ``cond_mask[b] = False`` replaces example b's condition by a learned
"no condition" (the null label, a null vector, a lone null token, a zero image): what
classifier-free guidance trains and samples with (Ho & Salimans 2022, sec. 3.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["COND_KINDS", "ConditionInputs", "condition_kinds"]

COND_KINDS = ("labels", "pooled", "context", "image")


def condition_kinds(config: Any) -> tuple[str, ...]:
    """The kinds of condition a UNet config takes, in ``COND_KINDS`` order."""
    kinds = []
    if config.num_classes is not None:
        kinds.append("labels")
    if config.cond_dim is not None:
        kinds.append("pooled")
    if config.context_dim is not None:
        kinds.append("context")
    if config.cond_image_channels > 0:
        kinds.append("image")
    return tuple(kinds)


class ConditionInputs:
    """Mixin of :class:`~ddpm_tutorial.models.unet.UNet` (an ``nn.Module``): its conditions.

    The layers are attributes of the UNet itself (``label_embed``, ``pooled_proj``,
    ``null_pooled``, ``null_token``), so a checkpoint's tensor names do not depend on where
    this code lives.
    """

    config: Any
    label_embed: nn.Embedding
    pooled_proj: nn.Sequential
    null_pooled: nn.Parameter
    null_token: nn.Parameter

    def build_condition_inputs(self, emb_dim: int) -> None:
        """Create the layers of every condition the config asks for (none for a plain UNet)."""
        cfg = self.config
        if cfg.num_classes is not None:
            self.label_embed = nn.Embedding(cfg.num_classes + 1, emb_dim)  # last row: no label
        if cfg.cond_dim is not None:
            self.pooled_proj = nn.Sequential(
                nn.Linear(cfg.cond_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
            )
            self.null_pooled = nn.Parameter(torch.zeros(cfg.cond_dim))
        if cfg.context_dim is not None:
            self.null_token = nn.Parameter(torch.randn(cfg.context_dim) * 0.02)

    def _parse_cond(self, cond: Any, B: int) -> dict[str, Tensor]:
        kinds = condition_kinds(self.config)
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

    def _keep_mask(
        self, cond: Any, cond_mask: Tensor | None, B: int, device: torch.device
    ) -> Tensor:
        """(B,) bool: which examples keep their condition."""
        if cond is None:
            return torch.zeros(B, dtype=torch.bool, device=device)
        if cond_mask is None:
            return torch.ones(B, dtype=torch.bool, device=device)
        if cond_mask.shape != (B,) or cond_mask.dtype != torch.bool:
            raise ValueError(
                f"cond_mask must be a bool tensor of shape ({B},); got {cond_mask.dtype} {tuple(cond_mask.shape)}"
            )
        return cond_mask.to(device)

    def fold_condition(
        self, cond: Any, cond_mask: Tensor | None, x: Tensor, emb: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Fold the condition into (input, step embedding, context, context mask).

        Args:
            cond: the condition (see the module docstring), or None for "no condition".
            cond_mask: optional (B,) bool; False drops that example's condition.
            x: the network's input x_t, (B, C, H, W).
            emb: the step embedding, (B, E).

        Returns:
            The input with any image condition concatenated (B, C + C', H, W), the step
            embedding with labels and pooled vectors added (B, E), and the context tokens
            (B, 1 + L, D) with their mask (B, 1 + L), or None for a network without them.
        """
        cfg, B = self.config, x.shape[0]
        parts = self._parse_cond(cond, B)
        keep = self._keep_mask(cond, cond_mask, B, x.device)
        if cfg.num_classes is not None:
            emb = emb + self.label_embed(self._labels(parts.get("labels"), keep, B, x.device))
        if cfg.cond_dim is not None:
            pooled = parts.get("pooled")
            null = self.null_pooled.expand(B, -1)
            if pooled is None:
                pooled = null
            elif pooled.shape != (B, cfg.cond_dim):
                raise ValueError(
                    f"pooled must have shape ({B}, {cfg.cond_dim}); got {tuple(pooled.shape)}"
                )
            emb = emb + self.pooled_proj(torch.where(keep[:, None], pooled, null))
        context = context_mask = None
        if cfg.context_dim is not None:
            context, context_mask = self._context(parts, keep, B, x.device)
        if cfg.cond_image_channels > 0:
            x = torch.cat([x, self._image(parts.get("image"), keep, x)], dim=1)
        return x, emb, context, context_mask

    def _labels(self, labels: Tensor | None, keep: Tensor, B: int, device: torch.device) -> Tensor:
        num_classes = self.config.num_classes
        null = torch.full((B,), num_classes, dtype=torch.long, device=device)
        if labels is None:
            return null  # no condition: the learned null label
        if labels.dtype != torch.long or labels.shape != (B,):
            raise ValueError(
                f"labels must be int64 of shape ({B},); got {labels.dtype} {tuple(labels.shape)}"
            )
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"labels must lie in [0, {num_classes}); got {low if low < 0 else high}"
            )
        return torch.where(keep, labels, null)

    def _context(
        self, parts: dict[str, Tensor], keep: Tensor, B: int, device: torch.device
    ) -> tuple[Tensor, Tensor]:
        context_dim = self.config.context_dim
        null_tok = self.null_token.expand(B, 1, -1)  # (B, 1, D): always present, never masked
        ones = torch.ones(B, 1, dtype=torch.bool, device=device)
        tokens = parts.get("context")
        if tokens is None:
            return null_tok, ones
        if tokens.ndim != 3 or tokens.shape[2] != context_dim:
            raise ValueError(
                f"context must have shape (B, L, {context_dim}); got {tuple(tokens.shape)}"
            )
        mask = parts.get("context_mask")
        L = tokens.shape[1]
        mask = torch.ones(B, L, dtype=torch.bool, device=device) if mask is None else mask.bool()
        context = torch.cat([null_tok, tokens], dim=1)  # (B, 1 + L, D)
        return context, torch.cat([ones, mask & keep[:, None]], dim=1)

    def _image(self, image: Tensor | None, keep: Tensor, x: Tensor) -> Tensor:
        channels = self.config.cond_image_channels
        B = x.shape[0]
        if image is None:
            return x.new_zeros(B, channels, *x.shape[2:])
        if image.ndim != 4 or image.shape[1] != channels:
            raise ValueError(
                f"image must have shape (B, {channels}, h, w); got {tuple(image.shape)}"
            )
        if image.shape[2:] != x.shape[2:]:
            image = F.interpolate(image, size=x.shape[2:], mode="bilinear", align_corners=False)
        return image * keep[:, None, None, None].to(image.dtype)
