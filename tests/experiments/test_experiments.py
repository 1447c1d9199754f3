"""Part IV experiments and commands: held-out prompts, scoring, the JSON they write."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, read_card, save_checkpoint
from ddpm_tutorial.cli import main
from ddpm_tutorial.data.captions import caption_vocabulary, prompt_digit
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.experiments import (
    encoder_vs_denoiser,
    guidance_tradeoff,
    heldout_prompts,
    load_experiment,
    score_samples,
)
from ddpm_tutorial.models import TextUNet, TextUNetConfig
from ddpm_tutorial.schedules import NoiseSchedule
from tests.conftest import TINY_UNET


@pytest.fixture
def text_ckpt_path(tmp_path, randomize):
    torch.manual_seed(0)
    cfg = TextUNetConfig(
        **TINY_UNET, text_dim=16, text_layers=1, text_heads=2, vocabulary=caption_vocabulary()
    )
    path = tmp_path / "text.safetensors"
    card = {
        "conditioning": "text",
        "sampling": {"sampler": "ddim", "steps": 2, "guidance_scale": 3.0},
    }
    save_checkpoint(randomize(TextUNet(cfg)), path, schedule=NoiseSchedule.linear(20), card=card)
    return path


def test_heldout_prompts_are_fixed_captions_that_name_a_digit():
    a, b = heldout_prompts(20), heldout_prompts(20)
    assert a == b and len(set(a)) > 5
    assert all(prompt_digit(p) is not None for p in a)
    assert heldout_prompts(20, seed=1) != a
    with pytest.raises(ValueError, match="num_prompts"):
        heldout_prompts(0)


def test_real_digits_with_their_own_captions_score_well():
    from ddpm_tutorial.systems.clip import captioned_digits

    images, _, caps, _ = captioned_digits("test", captions_per_image=1)
    pick = torch.randperm(1000, generator=torch.Generator().manual_seed(0))[:200]
    prompts = [caps[i][0] for i in pick.tolist()]
    good = score_samples(images[pick], prompts)
    noise = score_samples(torch.rand(200, 1, 28, 28) * 2 - 1, prompts)
    assert good["fid"] < 0.1 * noise["fid"]
    assert good["clip_score"] > noise["clip_score"] + 20
    assert good["prompted_digit_accuracy"] > 0.95


def test_experiments_run_on_a_tiny_text_model(text_ckpt_path):
    ckpt = load_checkpoint(text_ckpt_path)
    trade = guidance_tradeoff(ckpt, (1.0, 3.0), num_samples=6, steps=2)
    assert [r["guidance_scale"] for r in trade["rows"]] == [1.0, 3.0]
    assert {"fid", "clip_score", "prompted_digit_accuracy", "seconds"} <= set(trade["rows"][0])
    sizes = encoder_vs_denoiser([str(text_ckpt_path)], num_samples=6, steps=2)
    row = sizes["rows"][0]
    assert row["text_encoder"] == "transformer" and row["text_encoder_parameters"] > 0
    assert (
        row["denoiser_parameters"] + row["text_encoder_parameters"]
        == read_card(text_ckpt_path.with_suffix(".json"))["model"]["parameters"]
    )


def test_experiment_command_writes_json(text_ckpt_path, tmp_path, capsys):
    out = tmp_path / "t.json"
    argv = [
        "experiment",
        "guidance-tradeoff",
        "--checkpoints",
        str(text_ckpt_path),
        "--guidance-scales",
        "1",
        "--num-samples",
        "4",
        "--steps",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    saved = json.loads(out.read_text())
    assert saved["command"].startswith("python -m ddpm_tutorial experiment guidance-tradeoff")
    assert main(["experiment", "guidance-tradeoff", "--checkpoints", "a", "b"]) == 2
    assert "one checkpoint" in capsys.readouterr().err


def test_the_shipped_experiments_record_their_commands():
    for name in ("guidance-tradeoff", "encoder-vs-denoiser"):
        result = load_experiment(name)
        assert result["command"].startswith(f"python -m ddpm_tutorial experiment {name}")
        assert result["rows"] and all(r["fid"] > 0 for r in result["rows"])
    trade = load_experiment("guidance-tradeoff")["rows"]
    clip = [r["clip_score"] for r in trade]
    assert clip[-1] > clip[0]  # more guidance, closer to the prompt
    with pytest.raises(FileNotFoundError, match="no experiment"):
        load_experiment("nope")


def test_evaluate_prints_fid_and_clip_score(tmp_path, capsys):
    test = load_mnist("test", verbose=False)
    pick = torch.randperm(1000, generator=torch.Generator().manual_seed(0))[:100]
    np.save(tmp_path / "s.npy", test.images[pick].numpy())
    (tmp_path / "p.txt").write_text("".join(f"a handwritten {int(d)}\n" for d in test.labels[pick]))
    assert (
        main(
            ["evaluate", "--samples", str(tmp_path / "s.npy"), "--prompts", str(tmp_path / "p.txt")]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert 0 < out["fid"] < 10 and out["clip_score"] > 50
    assert out["prompted_digit"]["accuracy"] > 0.95


@pytest.mark.parametrize("command", ["train-features", "train-clip", "train-autoencoder"])
def test_aux_trainers_write_a_card(command, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        "ddpm_tutorial.metrics.features.SUITE_SETTINGS",
        {"n": 100, "repeats": 0, "floor_draws": 3, "families": {"blur": (0.6, 1.0)}},
    )
    assert main([command, "--out", str(tmp_path), "--steps", "2", "--threads", "1"]) == 0
    card = read_card(tmp_path / "model.json")
    assert (
        card["command"]
        == f"python -m ddpm_tutorial {command} --out {tmp_path} --steps 2 --threads 1"
    )
    assert card["training"]["steps"] == 2 and card["metrics"]
    assert json.loads(capsys.readouterr().out) == card["metrics"]
    load_checkpoint(tmp_path)  # loads back, hash checked


@pytest.mark.parametrize("command", ["train-prior", "train-dalle"])
def test_part4_system_trainers_write_a_card(command, tmp_path, capsys, monkeypatch):
    if command == "train-dalle":  # a tokeniser of a few steps: the point is the card
        from ddpm_tutorial.cli.train import AUX_TRAINERS

        original, *rest = AUX_TRAINERS["train-dalle"]
        monkeypatch.setitem(
            AUX_TRAINERS,
            "train-dalle",
            (lambda out, **kw: original(out, **kw, vq_steps=3), *rest),
        )
    assert main([command, "--out", str(tmp_path), "--steps", "2", "--threads", "1"]) == 0
    card = read_card(tmp_path / "model.json")
    assert (
        card["command"]
        == f"python -m ddpm_tutorial {command} --out {tmp_path} --steps 2 --threads 1"
    )
    assert card["metrics"]
    load_checkpoint(tmp_path)
    if command == "train-prior":
        assert (
            load_checkpoint(tmp_path / "regression.safetensors").card["metrics"] == card["metrics"]
        )


def test_part4_experiments_run_on_the_shipped_systems():
    from ddpm_tutorial.experiments import (
        latent_savings,
        part4_comparison,
        thresholding,
        unclip_priors,
    )

    table = part4_comparison(["mnist-sd", "mnist-unclip"], num_samples=4)
    assert [r["model"] for r in table["rows"]] == ["mnist-sd", "mnist-unclip"]
    unclip = table["rows"][1]
    assert set(unclip["parameters_by_part"]) == {"clip", "prior", "decoder", "upsampler"}
    assert unclip["parameters"] == sum(unclip["parameters_by_part"].values())
    saved = latent_savings(num_samples=2, repeats=1)
    assert saved["rows"][1]["numbers_per_example"] == 196 < saved["rows"][0]["numbers_per_example"]
    thr = thresholding(guidance_scales=(8.0,), num_samples=4)
    by_method = {r["method"]: r for r in thr["rows"]}
    assert by_method["none"]["out_of_range"] > 0 == by_method["static"]["out_of_range"]
    priors = unclip_priors(num_samples=4)
    assert [r["prior"] for r in priors["rows"]] == ["diffusion", "regression", "text"]


def test_the_shipped_part4_system_experiments_record_their_commands():
    for name in ("part4-comparison", "latent-savings", "thresholding", "unclip-priors"):
        result = load_experiment(name)
        assert result["command"].startswith(f"python -m ddpm_tutorial experiment {name}")
    rows = load_experiment("part4-comparison")["rows"]
    assert {r["model"] for r in rows} == {"mnist-text", "mnist-sd", "mnist-unclip", "mnist-imagen"}
    assert all(r["prompted_digit_accuracy"] >= 0.9 for r in rows)
    assert load_experiment("latent-savings")["train_step_speedup"] > 1
