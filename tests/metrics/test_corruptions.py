"""The corruption families: shapes, ranges, determinism, and that each does what it says."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.metrics.corruptions import (
    FAMILIES,
    LADDERS,
    corrupt_set,
    stratified_indices,
    stratified_pick,
)


@pytest.fixture(scope="module")
def pool():
    train = load_mnist("train", verbose=False)
    return train.images, train.labels


@pytest.fixture(scope="module")
def pick(pool):
    return stratified_pick(*pool, 100, torch.Generator().manual_seed(0))


def _g(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_level_keeps_the_shape_and_the_pixel_range_and_is_deterministic(family, pick, pool):
    for level in LADDERS[family]:
        a, la = corrupt_set(*pick, family, level, _g(), pool=pool)
        b, lb = corrupt_set(*pick, family, level, _g(), pool=pool)
        assert a.shape == pick[0].shape and la.shape == pick[1].shape
        assert a.min() >= -1 and a.max() <= 1 and torch.isfinite(a).all()
        assert torch.equal(a, b) and torch.equal(la, lb)


@pytest.mark.parametrize(
    "family", ["dilate", "erode", "binarise", "fade", "blur", "noise", "occlude", "patchswap"]
)
def test_the_damage_grows_along_the_ladder(family, pick):
    change = [
        float((corrupt_set(*pick, family, level, _g())[0] - pick[0]).abs().mean())
        for level in LADDERS[family]
    ]
    assert change[0] > 0 and all(a < b for a, b in zip(change, change[1:])), change


def test_a_stratified_pick_has_the_asked_class_counts_and_no_repeats(pool):
    p = torch.tensor([0.3, 0.0, *[0.7 / 8] * 8], dtype=torch.float64)
    idx = stratified_indices(pool[1], 101, _g(), p)
    counts = torch.bincount(pool[1][idx], minlength=10)
    assert counts.sum() == 101 and counts[1] == 0 and counts[0] in (30, 31)
    assert idx.unique().numel() == idx.numel()
    with pytest.raises(ValueError, match="class 0"):
        stratified_indices(pool[1], 10 * len(pool[1]), _g())
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_indices(pool[1], 10, _g(), torch.ones(10))


def test_collapse_keeps_few_distinct_digits_per_class_and_the_labels(pick):
    for repeats, distinct in ((2, 5), (5, 2), (100, 1)):  # 10 digits per class in the pick
        x, y = corrupt_set(*pick, "collapse", repeats, _g())
        assert torch.equal(y, pick[1])
        for c in range(10):
            assert x[y == c].flatten(1).unique(dim=0).shape[0] == distinct
            assert all(
                any(torch.equal(a, b) for b in pick[0][pick[1] == c]) for a in x[y == c]
            )  # every kept digit is one of the class's own


def test_missing_classes_nest_and_imbalance_gives_digit_one_its_share(pick, pool):
    gone = []
    for m in LADDERS["missing"]:
        _, y = corrupt_set(*pick, "missing", m, _g(), pool=pool)
        absent = set(range(10)) - set(y.tolist())
        assert len(absent) == m and len(y) == 100
        gone.append(absent)
    assert all(a <= b for a, b in zip(gone, gone[1:]))  # the same classes go first
    _, y = corrupt_set(*pick, "imbalance", 0.4, _g(), pool=pool)
    assert int((y == 1).sum()) == 40


def test_binarise_at_infinity_is_pure_black_and_white(pick):
    x, _ = corrupt_set(*pick, "binarise", math.inf, _g())
    assert set(x.unique().tolist()) <= {-1.0, 1.0}


def test_dilation_and_erosion_move_ink_the_right_way(pick):
    ink = float((pick[0] > 0).double().mean())
    assert float((corrupt_set(*pick, "dilate", 1, _g())[0] > 0).double().mean()) > ink
    assert float((corrupt_set(*pick, "erode", 1, _g())[0] > 0).double().mean()) < ink


def test_bad_requests_are_refused_with_the_offending_value(pick):
    with pytest.raises(ValueError, match="unknown corruption 'jpeg'"):
        corrupt_set(*pick, "jpeg", 1, _g())
    with pytest.raises(ValueError, match="needs pool"):
        corrupt_set(*pick, "missing", 1, _g())
    with pytest.raises(ValueError, match="got 7"):
        corrupt_set(*pick, "dilate", 7, _g())
    with pytest.raises(ValueError, match="got 1.5"):
        corrupt_set(*pick, "fade", 1.5, _g())
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        corrupt_set(pick[0][:, 0], pick[1], "blur", 0.4, _g())
