"""The sensitivity suite: the shipped FID features see every kind of damage, above the floor."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.metrics.corruptions import LADDERS
from ddpm_tutorial.metrics.validation import sensitivity_suite, sensitivity_table

#: the mildest and the strongest level of a few families: collapse, strokes, ink, classes
SMALL = {f: (LADDERS[f][0], LADDERS[f][-1]) for f in ("collapse", "dilate", "binarise", "missing")}


@pytest.fixture(scope="module")
def splits():
    train, test = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    return (train.images[::2], train.labels[::2]), test.images


def test_the_shipped_features_pass_a_small_suite_at_n_300(splits):
    """Each family: FID rises with severity, its mildest level above floor mean + 2 sd."""
    train, reference = splits
    report = sensitivity_suite(
        "mnist-style-features", train, reference, n=300, families=SMALL, floor_draws=10
    )
    floor = report["floor"]
    assert report["n"] == 300 and report["feature_dim"] == 160 and floor["draws"] == 10
    for family, row in report["families"].items():
        assert row["monotonic"] and row["fid"][0] > floor["mean"] + 2 * floor["sd"], (family, row)
        assert row["pass"]
    assert report["passed"]
    table = sensitivity_table(report)
    assert table.count("| yes |") == len(SMALL) and "n = 300" in table


def test_features_blind_to_the_digits_fail_the_criterion(splits):
    train, reference = splits

    def corner(x: torch.Tensor) -> torch.Tensor:  # four background pixels: sees nothing
        return x[:, 0, :2, :2].flatten(1)

    families = {"dilate": (1, 4)}
    report = sensitivity_suite(corner, train, reference, n=100, families=families, floor_draws=3)
    assert not report["families"]["dilate"]["pass"] and not report["passed"]


def test_the_suite_refuses_unknown_families(splits):
    train, reference = splits
    with pytest.raises(ValueError, match="jpeg"):
        sensitivity_suite("mnist-style-features", train, reference, families={"jpeg": (1,)})


def test_the_shipped_cards_record_a_passing_full_suite_and_an_honest_judge():
    card = load_checkpoint("mnist-style-features").card
    assert card["command"].startswith("python -m ddpm_tutorial train-features")
    assert card["data"]["split"] == "train" and card["training"]["wall_time_s"] > 0
    metrics = card["metrics"]
    assert metrics["accuracy_on_held_out_digits"] > 0.98
    suite = metrics["sensitivity"]
    assert suite["n"] == 1000 and set(suite["families"]) == set(LADDERS) and suite["passed"]
    assert all(row["robust"] for row in suite["families"].values())
    judge = load_checkpoint("mnist-classifier").card  # never saw the held-out digits it scores
    assert judge["data"]["split"] == "train" and "test split" in judge["metrics"]["evaluated_on"]
