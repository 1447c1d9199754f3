"""The from-scratch text encoder: shapes, padding and loud errors."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.models import TextTransformer


@pytest.fixture
def encoder() -> TextTransformer:
    torch.manual_seed(0)
    return TextTransformer(vocab_size=20, max_len=6, dim=16, num_layers=2, num_heads=2).eval()


def test_shapes_of_tokens_mask_and_pooled(encoder):
    ids = torch.tensor([[3, 4, 5, 0, 0, 0], [7, 0, 0, 0, 0, 0]])
    tokens, mask, pooled = encoder(ids)
    assert tokens.shape == (2, 6, 16) and pooled.shape == (2, 16)
    assert mask.tolist()[1] == [True, False, False, False, False, False]


def test_padding_changes_nothing_for_the_real_tokens(encoder):
    short = torch.tensor([[3, 4, 5]])
    long = torch.tensor([[3, 4, 5, 0, 0, 0]])
    t_short, _, p_short = encoder(short)
    t_long, _, p_long = encoder(long)
    torch.testing.assert_close(t_long[:, :3], t_short)
    torch.testing.assert_close(p_long, p_short)


def test_pooled_is_the_mean_of_the_real_tokens(encoder):
    tokens, mask, pooled = encoder(torch.tensor([[3, 4, 0, 0]]))
    torch.testing.assert_close(pooled, tokens[:, :2].mean(1))


def test_word_order_matters(encoder):
    _, _, a = encoder(torch.tensor([[3, 4]]))
    _, _, b = encoder(torch.tensor([[4, 3]]))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    "ids, match",
    [
        (torch.tensor([[0, 0]]), "at least one token"),
        (torch.tensor([[1, 2, 3, 4, 5, 6, 7]]), "at most 6"),
        (torch.tensor([[25]]), r"lie in \[0, 20\)"),
        (torch.tensor([[1.0]]), "int64"),
    ],
)
def test_bad_token_ids_are_rejected(encoder, ids, match):
    with pytest.raises(ValueError, match=match):
        encoder(ids)


def test_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match="divisible"):
        TextTransformer(10, 4, dim=10, num_heads=4)
