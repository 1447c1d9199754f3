"""Text for the text-conditional models: a word tokenizer and the frozen pretrained encoder."""

from .tokenizer import PAD, UNK, WordTokenizer, split_words

__all__ = ["PAD", "UNK", "WordTokenizer", "split_words"]
