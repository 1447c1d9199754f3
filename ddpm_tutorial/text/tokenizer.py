"""A word-level tokenizer over a fixed vocabulary, for the text encoder trained from scratch.

Real systems use subword tokenizers (CLIP's byte-pair encoding, T5's SentencePiece) over
vocabularies of 32k-50k pieces; a caption dataset written from templates needs only its few
dozen words. A prompt is lower-cased and split into words and single digits; each becomes its
index in the vocabulary, an unknown word becomes ``<unk>``, and the sequence is padded with
``<pad>`` (index 0) to ``max_len``. The vocabulary is plain data, stored in the model card, so
that a checkpoint tokenizes exactly as it was trained.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["PAD", "UNK", "WordTokenizer", "split_words"]

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z]+|[0-9]")


def split_words(text: str) -> list[str]:
    """Lower-case words and single digits of ``text``; punctuation is dropped."""
    return _WORD.findall(text.lower())


class WordTokenizer:
    """Map prompts to padded token ids: ``(B, max_len)`` int64 plus a ``(B, max_len)`` bool mask.

    Index 0 is ``<pad>`` and index 1 ``<unk>``; the vocabulary's words follow in order.
    """

    def __init__(self, vocabulary: Sequence[str], max_len: int = 12) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1; got {max_len}")
        words = list(vocabulary)
        if len(set(words)) != len(words):
            raise ValueError("the vocabulary lists a word twice")
        bad = [w for w in words if split_words(w) != [w]]
        if bad:
            raise ValueError(f"vocabulary entries must be single lower-case words; got {bad[:3]}")
        self.itos = [PAD, UNK, *words]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.max_len = max_len

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Token ids (B, max_len) int64 and mask (B, max_len) bool (True on real tokens).

        Raises:
            TypeError: if ``prompts`` is a single string rather than a sequence of them.
            ValueError: if a prompt has more than ``max_len`` words, or none.
        """
        if isinstance(prompts, str):
            raise TypeError("encode takes a list of prompts; wrap a single prompt in a list")
        ids = torch.zeros(len(prompts), self.max_len, dtype=torch.long)
        for b, prompt in enumerate(prompts):
            words = split_words(prompt)
            if not words:
                raise ValueError(f"prompt {prompt!r} has no words")
            if len(words) > self.max_len:
                raise ValueError(
                    f"prompt {prompt!r} has {len(words)} words; this tokenizer takes at most "
                    f"{self.max_len}"
                )
            ids[b, : len(words)] = torch.tensor([self.stoi.get(w, 1) for w in words])
        return ids, ids != 0

    def decode(self, ids: Tensor) -> list[str]:
        """The words of each row of ``ids`` (B, L), padding dropped."""
        return [" ".join(self.itos[i] for i in row.tolist() if i != 0) for row in ids]

    def unknown_words(self, prompt: str) -> list[str]:
        """The words of ``prompt`` that this vocabulary does not hold (they become ``<unk>``)."""
        return [w for w in split_words(prompt) if w not in self.stoi]
