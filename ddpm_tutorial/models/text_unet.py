"""A text-conditional noise predictor: a text encoder and the UNet, ``eps_pred = f(x_t, t, text)``.

The denoiser takes the prompt as a third input at every step of the reverse process. Two
choices are made in :class:`TextUNetConfig`:

* ``text_encoder``: ``"transformer"``, a :class:`~ddpm_tutorial.models.text_transformer.TextTransformer`
  over a word vocabulary, trained from scratch together with the UNet (its weights are in the
  checkpoint); or ``"minilm"``, the frozen pretrained sentence encoder all-MiniLM-L6-v2
  (:mod:`ddpm_tutorial.text.pretrained`; its weights come from its own package and are not
  trained).
* ``text_conditioning``: how the UNet reads the text. ``"cross-attention"``: every attention
  block attends from the image positions to the text tokens (Rombach et al. 2022, eq. 3);
  ``"pooled"``: one vector, the mean of the token features, is added to the step embedding
  (as the class embedding of a class-conditional DDPM is); ``"both"`` (as Imagen does).

The condition a forward pass takes is what :meth:`TextUNet.encode_prompts` returns: token ids
``(B, L)`` int64 for the transformer (encoded inside ``forward``, so that gradients reach the
encoder), or the frozen encoder's outputs ``{"tokens", "mask", "pooled"}``, computed once.
``cond=None`` or ``cond_mask[b] = False`` is "no text", which classifier-free guidance needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from .text_inputs import TEXT_ENCODERS, TextInputs, check_text_fields
from .unet import UNet, UNetConfig

__all__ = ["TEXT_CONDITIONINGS", "TEXT_ENCODERS", "TextUNet", "TextUNetConfig"]

TEXT_CONDITIONINGS = ("cross-attention", "pooled", "both")


@dataclass(frozen=True)
class TextUNetConfig(UNetConfig):
    """:class:`UNetConfig` plus the text encoder. ``context_dim`` and ``cond_dim`` follow from
    ``text_dim`` and ``text_conditioning`` and are filled in here."""

    text_encoder: str = "transformer"
    text_conditioning: str = "cross-attention"
    vocabulary: tuple[str, ...] = ()
    max_len: int = 12
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_text_fields(self)
        if self.text_conditioning not in TEXT_CONDITIONINGS:
            raise ValueError(
                f"unknown text_conditioning {self.text_conditioning!r}; choose one of "
                f"{', '.join(TEXT_CONDITIONINGS)}"
            )
        if self.num_classes is not None or self.cond_image_channels:
            raise ValueError(
                "a TextUNet is conditioned on text only (num_classes and cond_image_channels unset)"
            )
        cross = self.text_conditioning in ("cross-attention", "both")
        pooled = self.text_conditioning in ("pooled", "both")
        for name, wanted in (("context_dim", cross), ("cond_dim", pooled)):
            value = getattr(self, name)
            expected = self.text_dim if wanted else None
            if value is None and expected is not None:
                object.__setattr__(self, name, expected)  # derived field of a frozen dataclass
            elif value != expected:
                raise ValueError(
                    f"{name} follows from text_conditioning={self.text_conditioning!r} and "
                    f"text_dim={self.text_dim}: expected {expected}, got {value}"
                )


class TextUNet(TextInputs, nn.Module):
    """``eps_pred = TextUNet(x_t, t, cond)``: (B, C, H, W), (B,), text -> (B, C, H, W)."""

    def __init__(self, config: TextUNetConfig | None = None) -> None:
        super().__init__()
        if config is None:
            raise ValueError(
                "TextUNet needs a TextUNetConfig (with a vocabulary or text_encoder='minilm')"
            )
        self.config = config
        self.build_text_inputs()  # the text encoder (see models.text_inputs)
        self.unet = UNet(config.unet_config())

    # ------------------------------------------------------------------ forward
    def forward(
        self, x_t: Tensor, t: Tensor, cond: Any = None, *, cond_mask: Tensor | None = None
    ) -> Tensor:
        """Predict the noise in ``x_t`` given the text ``cond`` (None: no text).

        Args:
            x_t: noisy images, shape (B, C, H, W).
            t: steps, int64, shape (B,).
            cond: what :meth:`encode_prompts` returns for B prompts, or None.
            cond_mask: optional (B,) bool; False drops that example's text.

        Returns:
            eps_pred, shape of ``x_t``.
        """
        if cond is None:
            return self.unet(x_t, t, None)
        tokens, mask, pooled = self.text_features(cond)
        if tokens.shape[0] != x_t.shape[0]:
            raise ValueError(f"{tokens.shape[0]} prompts for a batch of {x_t.shape[0]} images")
        parts: dict[str, Tensor] = {}
        if self.config.context_dim is not None:
            parts.update(context=tokens, context_mask=mask)
        if self.config.cond_dim is not None:
            parts["pooled"] = pooled
        return self.unet(x_t, t, parts, cond_mask=cond_mask)
