"""The shipped checkpoints match data/registry.json and load without unpickling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddpm_tutorial.checkpoints import load_checkpoint, read_card, sha256_of

DATA = Path(__file__).resolve().parent.parent / "data"
REGISTRY = json.loads((DATA / "registry.json").read_text())["checkpoints"]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registered_checkpoint_files_exist_and_match_their_hash(name):
    entry = REGISTRY[name]
    weights, card = DATA / entry["weights"], DATA / entry["card"]
    assert sha256_of(weights) == entry["sha256"] == read_card(card)["sha256"]
    assert weights.stat().st_size == entry["bytes"]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registered_checkpoint_loads_by_bare_name_and_records_its_command(name):
    ckpt = load_checkpoint(name)
    assert ckpt.card["command"].startswith("python -m ddpm_tutorial ")
    assert ckpt.card["metrics"], f"{name} has no measured metrics in its card"
    assert not any(p.requires_grad for p in ckpt.model.parameters())


def test_the_pretrained_ddpm_card_reports_sample_quality_measured_by_the_held_out_classifier():
    metrics = load_checkpoint("mnist-ddpm").card["metrics"]["digit_classifier_1000_samples"]
    assert metrics["num_samples"] == 1000
    assert len(metrics["class_fractions"]) == 10
    assert abs(sum(metrics["class_fractions"]) - 1) < 1e-3
