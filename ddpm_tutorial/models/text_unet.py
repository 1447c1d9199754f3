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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ..text.pretrained import encode_with_minilm
from ..text.tokenizer import WordTokenizer
from .text_transformer import TextTransformer
from .unet import UNet, UNetConfig

__all__ = ["TEXT_CONDITIONINGS", "TEXT_ENCODERS", "TextUNet", "TextUNetConfig"]

TEXT_ENCODERS = ("transformer", "minilm")
TEXT_CONDITIONINGS = ("cross-attention", "pooled", "both")
_MINILM_DIM = 384


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
        if self.text_encoder not in TEXT_ENCODERS:
            raise ValueError(
                f"unknown text_encoder {self.text_encoder!r}; choose one of {', '.join(TEXT_ENCODERS)}"
            )
        if self.text_conditioning not in TEXT_CONDITIONINGS:
            raise ValueError(
                f"unknown text_conditioning {self.text_conditioning!r}; choose one of "
                f"{', '.join(TEXT_CONDITIONINGS)}"
            )
        if self.text_encoder == "transformer" and not self.vocabulary:
            raise ValueError("the transformer text encoder needs a vocabulary (a tuple of words)")
        if self.text_encoder == "minilm" and self.text_dim != _MINILM_DIM:
            raise ValueError(
                f"the minilm encoder's features have {_MINILM_DIM} dims; got text_dim={self.text_dim}"
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


class TextUNet(nn.Module):
    """``eps_pred = TextUNet(x_t, t, cond)``: (B, C, H, W), (B,), text -> (B, C, H, W)."""

    def __init__(self, config: TextUNetConfig | None = None) -> None:
        super().__init__()
        if config is None:
            raise ValueError(
                "TextUNet needs a TextUNetConfig (with a vocabulary or text_encoder='minilm')"
            )
        self.config = cfg = config
        self.tokenizer = None
        self.text_encoder: TextTransformer | None = None
        if cfg.text_encoder == "transformer":
            self.tokenizer = WordTokenizer(cfg.vocabulary, cfg.max_len)
            self.text_encoder = TextTransformer(
                len(self.tokenizer), cfg.max_len, cfg.text_dim, cfg.text_layers, cfg.text_heads
            )
        else:  # frozen features, normalised before the UNet reads them
            self.context_norm = nn.LayerNorm(cfg.text_dim)
        self.unet = UNet(cfg.unet_config())

    # ------------------------------------------------------------------ text
    def encode_prompts(self, prompts: Sequence[str]) -> Any:
        """The condition for ``prompts``, on this model's device: token ids or frozen features."""
        device = next(self.parameters()).device
        if self.tokenizer is not None:
            ids, _ = self.tokenizer.encode(prompts)
            return ids.to(device)
        out = encode_with_minilm(prompts, self.config.max_len, device=str(device))
        return {k: v.to(device) for k, v in out.items()}

    def text_features(self, cond: Any) -> tuple[Tensor, Tensor, Tensor]:
        """Token features (B, L, D), mask (B, L) and pooled (B, D) of an encoded condition."""
        if self.text_encoder is not None:
            if not isinstance(cond, Tensor):
                raise TypeError(
                    "this TextUNet encodes text itself: pass token ids from encode_prompts, "
                    f"got {type(cond).__name__}"
                )
            return self.text_encoder(cond)
        if not isinstance(cond, Mapping) or set(cond) != {"tokens", "mask", "pooled"}:
            raise TypeError(
                "this TextUNet reads the frozen encoder's outputs: pass encode_prompts(...), a "
                "dict with tokens, mask and pooled"
            )
        return self.context_norm(cond["tokens"]), cond["mask"].bool(), cond["pooled"]

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
