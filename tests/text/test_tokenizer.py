"""The word tokenizer of the from-scratch text encoder."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.data.captions import caption_vocabulary
from ddpm_tutorial.text.tokenizer import WordTokenizer, split_words


@pytest.fixture
def tok() -> WordTokenizer:
    return WordTokenizer(caption_vocabulary(), max_len=8)


def test_split_words_lowercases_and_drops_punctuation():
    assert split_words("A Thick, slanted 7!") == ["a", "thick", "slanted", "7"]


def test_encode_pads_with_zero_and_masks_the_padding(tok):
    ids, mask = tok.encode(["a handwritten 7", "seven"])
    assert ids.shape == (2, 8) and ids.dtype == torch.long
    assert mask.tolist()[1] == [True] + [False] * 7
    assert bool((ids[~mask] == 0).all()) and bool((ids[mask] > 1).all())


def test_decode_inverts_encode_for_known_words(tok):
    prompts = ["a thick, slanted three", "the digit 0"]
    assert tok.decode(tok.encode(prompts)[0]) == ["a thick slanted three", "the digit 0"]


def test_unknown_words_become_unk(tok):
    ids, _ = tok.encode(["a bold seven"])
    assert ids[0, 1].item() == 1
    assert tok.unknown_words("a bold seven") == ["bold"]


def test_too_many_words_is_an_error_naming_the_prompt(tok):
    with pytest.raises(ValueError, match="at most 8"):
        tok.encode(["a b c d e f g h i"])


def test_a_single_string_is_rejected(tok):
    with pytest.raises(TypeError, match="list of prompts"):
        tok.encode("a handwritten 7")


def test_an_empty_prompt_is_rejected(tok):
    with pytest.raises(ValueError, match="no words"):
        tok.encode(["!!"])


def test_vocabulary_must_be_single_distinct_words():
    with pytest.raises(ValueError, match="twice"):
        WordTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="single lower-case"):
        WordTokenizer(["leaning left"])
