"""The text side of a text-conditional denoiser: its tokenizer and encoder, and its prompts.

:class:`TextInputs` is a mixin of :class:`~ddpm_tutorial.models.text_unet.TextUNet` and
:class:`~ddpm_tutorial.models.text_dit.TextDiT`: the text encoder either trained from scratch
with the denoiser (``text_encoder="transformer"``, a
:class:`~ddpm_tutorial.models.text_transformer.TextTransformer` over a word vocabulary, its
weights in the checkpoint) or the frozen pretrained all-MiniLM-L6-v2 (``"minilm"``, features
computed once by :meth:`encode_prompts`). The layers are attributes of the denoiser itself
(``tokenizer``, ``text_encoder``, ``context_norm``), so checkpoints do not depend on where this
code lives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from ..text.pretrained import encode_with_minilm
from ..text.tokenizer import WordTokenizer
from .text_transformer import TextTransformer

__all__ = ["MINILM_DIM", "TEXT_ENCODERS", "TextInputs", "check_text_fields"]

TEXT_ENCODERS = ("transformer", "minilm")
MINILM_DIM = 384


def check_text_fields(config: Any) -> None:
    """One-line errors for a config's text fields (``text_encoder``, ``vocabulary``, ``text_dim``)."""
    if config.text_encoder not in TEXT_ENCODERS:
        raise ValueError(
            f"unknown text_encoder {config.text_encoder!r}; choose one of {', '.join(TEXT_ENCODERS)}"
        )
    if config.text_encoder == "transformer" and not config.vocabulary:
        raise ValueError("the transformer text encoder needs a vocabulary (a tuple of words)")
    if config.text_encoder == "minilm" and config.text_dim != MINILM_DIM:
        raise ValueError(
            f"the minilm encoder's features have {MINILM_DIM} dims; got text_dim={config.text_dim}"
        )


class TextInputs:
    """Mixin of a text-conditional denoiser (an ``nn.Module`` with a text config)."""

    config: Any
    tokenizer: WordTokenizer | None
    text_encoder: TextTransformer | None
    context_norm: nn.LayerNorm

    def build_text_inputs(self) -> None:
        """The tokenizer and trained encoder, or the norm of the frozen encoder's features."""
        cfg = self.config
        self.tokenizer = None
        self.text_encoder = None
        if cfg.text_encoder == "transformer":
            self.tokenizer = WordTokenizer(cfg.vocabulary, cfg.max_len)
            self.text_encoder = TextTransformer(
                len(self.tokenizer), cfg.max_len, cfg.text_dim, cfg.text_layers, cfg.text_heads
            )
        else:  # frozen features, normalised before the denoiser reads them
            self.context_norm = nn.LayerNorm(cfg.text_dim)

    def encode_prompts(self, prompts: Sequence[str]) -> Any:
        """The condition for ``prompts``, on this model's device: token ids or frozen features."""
        device = next(self.parameters()).device  # type: ignore[attr-defined]
        if self.tokenizer is not None:
            ids, _ = self.tokenizer.encode(prompts)
            return ids.to(device)
        out = encode_with_minilm(prompts, self.config.max_len, device=str(device))
        return {k: v.to(device) for k, v in out.items()}

    def text_features(self, cond: Any) -> tuple[Tensor, Tensor, Tensor]:
        """Token features (B, L, D), mask (B, L) and pooled (B, D) of an encoded condition."""
        name = type(self).__name__
        if self.text_encoder is not None:
            if not isinstance(cond, Tensor):
                raise TypeError(
                    f"this {name} encodes text itself: pass token ids from encode_prompts, "
                    f"got {type(cond).__name__}"
                )
            return self.text_encoder(cond)
        if not isinstance(cond, Mapping) or set(cond) != {"tokens", "mask", "pooled"}:
            raise TypeError(
                f"this {name} reads the frozen encoder's outputs: pass encode_prompts(...), a "
                "dict with tokens, mask and pooled"
            )
        return self.context_norm(cond["tokens"]), cond["mask"].bool(), cond["pooled"]
