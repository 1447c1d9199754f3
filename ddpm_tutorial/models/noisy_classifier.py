"""A digit classifier that reads noisy images: ``p(y | x_t, t)``, the network of classifier guidance.

Dhariwal & Nichol (2021, sec. 4) guide an unconditional diffusion model with the gradient of a
classifier trained on the *noisy* images ``x_t`` of the forward process, told the step ``t``
(their classifier is the downsampling half of their UNet). This is the same idea at MNIST's
scale: a small CNN whose blocks add an embedding of the step, like the UNet's residual blocks
do (Ho et al. 2020, appendix B), then global average pooling and a linear layer to 10 logits.
It is trained and used by :mod:`ddpm_tutorial.systems.classifier_guidance`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .embeddings import TimestepEmbedding

__all__ = ["NoisyClassifier", "NoisyClassifierConfig"]


@dataclass(frozen=True)
class NoisyClassifierConfig:
    """Sizes of :class:`NoisyClassifier`.

    Attributes:
        channels: channels of the first block; the second and third have twice as many.
        time_dim: size of the step embedding added in every block.
        num_classes: number of labels.
        image_size: side of the (square, one-channel) images.
    """

    channels: int = 32
    time_dim: int = 128
    num_classes: int = 10
    image_size: int = 28


class _Block(nn.Module):
    """conv -> GroupNorm -> + step embedding -> SiLU -> conv -> GroupNorm -> SiLU, then pool."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, pool: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(8, c_out)
        self.time = nn.Linear(time_dim, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.act = nn.SiLU()
        self.pool = nn.AvgPool2d(2) if pool else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.act(self.norm1(self.conv1(x)) + self.time(emb)[:, :, None, None])
        h = self.act(self.norm2(self.conv2(h)))
        return self.pool(h)


class NoisyClassifier(nn.Module):
    """``logits = f(x_t, t)``: (B, 1, S, S) noisy images and (B,) steps -> (B, num_classes)."""

    def __init__(self, config: NoisyClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or NoisyClassifierConfig()
        c = cfg.channels
        self.time_embed = TimestepEmbedding(cfg.time_dim, cfg.time_dim)
        self.blocks = nn.ModuleList(
            [
                _Block(1, c, cfg.time_dim, pool=True),  # S/2
                _Block(c, 2 * c, cfg.time_dim, pool=True),  # S/4
                _Block(2 * c, 2 * c, cfg.time_dim, pool=False),
            ]
        )
        self.head = nn.Linear(2 * c, cfg.num_classes)

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        S = self.config.image_size
        if x_t.ndim != 4 or tuple(x_t.shape[1:]) != (1, S, S):
            raise ValueError(
                f"NoisyClassifier expects images of shape (B, 1, {S}, {S}); got {tuple(x_t.shape)}"
            )
        if t.ndim != 1 or t.shape[0] != x_t.shape[0]:
            raise ValueError(
                f"t must have shape ({x_t.shape[0]},), one step per image; got {tuple(t.shape)}"
            )
        emb = self.time_embed(t)
        h = x_t
        for block in self.blocks:
            h = block(h, emb)
        return self.head(h.mean(dim=(2, 3)))
