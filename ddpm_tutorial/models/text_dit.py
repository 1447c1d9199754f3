"""A text-conditional transformer denoiser: a text encoder and SD3's MM-DiT blocks.

:class:`TextDiT` is to :class:`~ddpm_tutorial.models.dit.DiT` what
:class:`~ddpm_tutorial.models.text_unet.TextUNet` is to the UNet: the prompt's token features
(from the encoder of :mod:`~ddpm_tutorial.models.text_inputs`) enter every block as a second
stream of tokens, and one attention runs over text and image tokens together (Esser et al.
2024, sec. 4, Figure 2). Stable Diffusion 3 also adds a pooled text vector to the conditioning
vector of adaLN; so does this network (the mean of the token features, projected), so that
the text steers the modulation of every block as well as its attention.

``TextDiT(x_t, t, cond)``: (B, C, H, W), (B,), what :meth:`encode_prompts` returns ->
(B, C, H, W); ``cond=None`` or ``cond_mask[b] = False`` is "no text" (the learned null token
alone), as classifier-free guidance needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor, nn

from .dit import DiT, DiTConfig
from .text_inputs import TextInputs, check_text_fields

__all__ = ["TextDiT", "TextDiTConfig"]


@dataclass(frozen=True)
class TextDiTConfig(DiTConfig):
    """:class:`DiTConfig` plus the text encoder; ``context_dim`` follows from ``text_dim``."""

    text_encoder: str = "transformer"
    vocabulary: tuple[str, ...] = ()
    max_len: int = 12
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_text_fields(self)
        if self.num_classes is not None:
            raise ValueError("a TextDiT is conditioned on text only (num_classes unset)")
        if self.context_dim is None:
            object.__setattr__(self, "context_dim", self.text_dim)  # derived field
        elif self.context_dim != self.text_dim:
            raise ValueError(
                f"context_dim follows from text_dim={self.text_dim}; got {self.context_dim}"
            )

    def dit_config(self) -> DiTConfig:
        """The plain :class:`DiTConfig` fields of this config."""
        fields = asdict(self)
        return DiTConfig(**{f: fields[f] for f in DiTConfig.__dataclass_fields__})


class TextDiT(TextInputs, nn.Module):
    """``v_pred = TextDiT(x_t, t, cond)``: (B, C, H, W), (B,), text -> (B, C, H, W)."""

    def __init__(self, config: TextDiTConfig | None = None) -> None:
        super().__init__()
        if config is None:
            raise ValueError(
                "TextDiT needs a TextDiTConfig (with a vocabulary or text_encoder='minilm')"
            )
        self.config = config
        self.build_text_inputs()
        self.dit = DiT(config.dit_config())
        D = config.hidden_dim
        self.pooled_proj = nn.Sequential(nn.Linear(config.text_dim, D), nn.SiLU(), nn.Linear(D, D))

    @property
    def record_attention(self) -> bool:
        return self.dit.record_attention

    @record_attention.setter
    def record_attention(self, value: bool) -> None:
        self.dit.record_attention = value

    @property
    def last_attention(self) -> list[Tensor]:
        """Each block's attention weights over (null token, text, image), as in :class:`DiT`."""
        return self.dit.last_attention

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Any = None, *, cond_mask: Tensor | None = None
    ) -> Tensor:
        """Predict the velocity (or noise) in ``x_t`` given the text ``cond`` (None: no text).

        Args:
            x_t: noisy images, shape (B, C, H, W).
            t: steps (or flow matching's ``1000 t``), shape (B,).
            cond: what :meth:`encode_prompts` returns for B prompts, or None.
            cond_mask: optional (B,) bool; False drops that example's text.

        Returns:
            shape of ``x_t``.
        """
        if cond is None:
            return self.dit(x_t, t, None, pooled=None)
        tokens, mask, pooled = self.text_features(cond)
        if tokens.shape[0] != x_t.shape[0]:
            raise ValueError(f"{tokens.shape[0]} prompts for a batch of {x_t.shape[0]} images")
        keep = mask if cond_mask is None else mask & cond_mask[:, None]
        pooled_emb = self.pooled_proj(pooled)
        if cond_mask is not None:  # a dropped text has no pooled vector either
            pooled_emb = pooled_emb * cond_mask[:, None].to(pooled_emb.dtype)
        return self.dit(
            x_t,
            t,
            {"context": tokens, "context_mask": keep},
            cond_mask=cond_mask,
            pooled=pooled_emb,
        )
