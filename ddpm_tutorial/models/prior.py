r"""unCLIP's prior: from a caption's CLIP text embedding to a CLIP image embedding.

DALL-E 2 (Ramesh et al. 2022, sec. 2.2) generates an image in two steps: a *prior*
:math:`P(z_i \mid y)` produces a CLIP image embedding :math:`z_i` for the caption :math:`y`,
and a *decoder* :math:`P(x \mid z_i)` produces the image. Two priors are here:

* :class:`DiffusionPrior`, a diffusion model over the embedding vector. As in the paper it
  predicts the *clean* embedding :math:`z_i` directly rather than the noise
  (:math:`\lVert f_\theta(z_i^{(t)}, t, y) - z_i \rVert^2`, sec. 2.2), and the text embedding
  is dropped 10% of the time for classifier-free guidance. The paper's network is a
  decoder-only transformer over (text tokens, text embedding, step, noisy image embedding);
  this one is a residual MLP over the concatenation of the same vectors, which is enough
  for 64 numbers.
* :class:`RegressionPrior`, the baseline: one deterministic embedding per caption, the
  conditional mean that a squared-error fit converges to. Every digit drawn for one caption
  then gets the same embedding, which a decoder turns into near-identical images.

Both read and write embeddings scaled to norm :math:`\sqrt{D}` (per-coordinate variance
about 1, what the Gaussian noise of the diffusion assumes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .embeddings import TimestepEmbedding

__all__ = ["DiffusionPrior", "PriorConfig", "RegressionPrior"]


@dataclass(frozen=True)
class PriorConfig:
    """Sizes of the priors; ``embed_dim`` is the CLIP embedding size."""

    embed_dim: int = 64
    hidden_dim: int = 256
    num_layers: int = 4
    time_dim: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("embed_dim", "hidden_dim", "num_layers", "time_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.time_dim % 2:
            raise ValueError(f"time_dim must be even; got {self.time_dim}")


class _Block(nn.Module):
    """LayerNorm - Linear - SiLU - Linear with a residual, the step embedding added inside."""

    def __init__(self, dim: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.emb = nn.Linear(emb_dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        z = self.fc1(self.norm(h)) + self.emb(emb)
        return h + self.fc2(self.dropout(nn.functional.silu(z)))


class DiffusionPrior(nn.Module):
    """``z0_pred = DiffusionPrior(z_t, t, text)``: (B, D), (B,), (B, D) -> (B, D).

    ``text`` is the caption's scaled CLIP text embedding; ``text=None`` or
    ``cond_mask[b] = False`` replaces it with a learned null embedding (classifier-free
    guidance). The output is the predicted clean image embedding, not the noise.
    """

    prediction = "x0"

    def __init__(self, config: PriorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or PriorConfig()
        self.time_embed = TimestepEmbedding(cfg.time_dim, cfg.hidden_dim)
        self.null_text = nn.Parameter(torch.zeros(cfg.embed_dim))
        self.proj_in = nn.Linear(2 * cfg.embed_dim, cfg.hidden_dim)
        self.blocks = nn.ModuleList(
            _Block(cfg.hidden_dim, cfg.hidden_dim, cfg.dropout) for _ in range(cfg.num_layers)
        )
        self.norm_out = nn.LayerNorm(cfg.hidden_dim)
        self.proj_out = nn.Linear(cfg.hidden_dim, cfg.embed_dim)

    def forward(
        self, z_t: Tensor, t: Tensor, cond: Tensor | None = None, *, cond_mask: Tensor | None = None
    ) -> Tensor:
        """Predict the clean embedding. Shapes: z_t (B, D), t (B,) int64, cond (B, D)."""
        D = self.config.embed_dim
        if z_t.ndim != 2 or z_t.shape[1] != D:
            raise ValueError(f"z_t must have shape (B, {D}); got {tuple(z_t.shape)}")
        B = z_t.shape[0]
        if t.shape != (B,):
            raise ValueError(f"t must have shape ({B},); got {tuple(t.shape)}")
        null = self.null_text.expand(B, D)
        if cond is None:
            text = null
        else:
            if cond.shape != (B, D):
                raise ValueError(f"cond must have shape ({B}, {D}); got {tuple(cond.shape)}")
            text = cond if cond_mask is None else torch.where(cond_mask[:, None], cond, null)
        h = self.proj_in(torch.cat([z_t, text], dim=1))
        emb = nn.functional.silu(self.time_embed(t))
        for block in self.blocks:
            h = block(h, emb)
        return self.proj_out(self.norm_out(h))


class RegressionPrior(nn.Module):
    """The baseline ``z_pred = RegressionPrior(text)``: (B, D) -> (B, D), one answer per caption."""

    def __init__(self, config: PriorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or PriorConfig()
        self.proj_in = nn.Linear(cfg.embed_dim, cfg.hidden_dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(cfg.hidden_dim),
                nn.Linear(cfg.hidden_dim, 2 * cfg.hidden_dim),
                nn.SiLU(),
                nn.Linear(2 * cfg.hidden_dim, cfg.hidden_dim),
            )
            for _ in range(cfg.num_layers)
        )
        self.norm_out = nn.LayerNorm(cfg.hidden_dim)
        self.proj_out = nn.Linear(cfg.hidden_dim, cfg.embed_dim)

    def forward(self, text: Tensor) -> Tensor:
        """Predict the image embedding of each caption embedding (B, D)."""
        D = self.config.embed_dim
        if text.ndim != 2 or text.shape[1] != D:
            raise ValueError(f"text must have shape (B, {D}); got {tuple(text.shape)}")
        h = self.proj_in(text)
        for block in self.blocks:
            h = h + block(h)
        return self.proj_out(self.norm_out(h))
