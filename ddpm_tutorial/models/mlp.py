"""A small MLP noise predictor for 2-D toy data (two moons, Gaussian mixtures, swiss rolls)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .embeddings import TimestepEmbedding

__all__ = ["MLPConfig", "MLPDenoiser"]


@dataclass(frozen=True)
class MLPConfig:
    """Sizes of :class:`MLPDenoiser`."""

    data_dim: int = 2
    hidden_dim: int = 128
    num_layers: int = 3
    time_embed_dim: int = 32


class MLPDenoiser(nn.Module):
    """``eps_pred = f([x_t, emb(t)])``: an MLP over points of shape (B, D).

    Each hidden layer also receives the step embedding, so that every layer knows how noisy
    its input is.
    """

    def __init__(self, config: MLPConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MLPConfig()
        if config.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1; got {config.num_layers}")
        self.time_embed = TimestepEmbedding(config.time_embed_dim, config.hidden_dim)
        self.inp = nn.Linear(config.data_dim, config.hidden_dim)
        self.layers = nn.ModuleList(
            nn.Linear(config.hidden_dim, config.hidden_dim) for _ in range(config.num_layers)
        )
        self.out = nn.Linear(config.hidden_dim, config.data_dim)
        self.act = nn.SiLU()

    def forward(self, x_t: Tensor, t: Tensor, cond: None = None) -> Tensor:
        """Predict the noise in ``x_t`` (B, D) at steps ``t`` (B,); returns (B, D)."""
        if cond is not None:
            raise ValueError("MLPDenoiser is unconditional; got a cond argument")
        if x_t.ndim != 2 or x_t.shape[1] != self.config.data_dim:
            raise ValueError(
                f"MLPDenoiser expects x_t of shape (B, {self.config.data_dim}); got {tuple(x_t.shape)}"
            )
        if t.shape != (x_t.shape[0],):
            raise ValueError(f"t must have shape ({x_t.shape[0]},); got {tuple(t.shape)}")
        emb = self.time_embed(t)
        h = self.inp(x_t)
        for layer in self.layers:
            h = h + layer(self.act(h + emb))
        return self.out(self.act(h))
