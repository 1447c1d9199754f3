"""Parts II and IV's experiments, on a tiny model and the shipped systems, and their command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, read_card, save_checkpoint
from ddpm_tutorial.cli import main
from ddpm_tutorial.data.captions import caption_vocabulary
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.experiments import (
    Protocol,
    card_defaults,
    encoder_vs_denoiser,
    guidance_tradeoff,
    latent_savings,
    load_experiment,
    part4_comparison,
    text_backbones,
    thresholding,
    unclip_priors,
    with_sampling,
)
from ddpm_tutorial.experiments.generators import sampling_of, setting_label
from ddpm_tutorial.flow_matching import FlowMatching
from ddpm_tutorial.models import TextDiT, TextDiTConfig, TextUNet, TextUNetConfig
from ddpm_tutorial.schedules import NoiseSchedule
from tests.conftest import TINY_UNET

SMALL = Protocol(num_samples=8, resamples=20)
#: the measures every scored row carries, each with n and an interval
MEASURES = ("fid", "kid", "precision", "recall", "density", "coverage")
PROMPTED = ("clip_score", "prompted_digit_accuracy")


@pytest.fixture
def text_ckpt_path(tmp_path, randomize):
    paths = []
    for seed, name in ((0, "tiny-a"), (1, "tiny-b")):
        torch.manual_seed(seed)
        cfg = TextUNetConfig(
            **TINY_UNET, text_dim=16, text_layers=1, text_heads=2, vocabulary=caption_vocabulary()
        )
        card = {
            "conditioning": "text",
            "sampling": {"sampler": "ddim", "steps": 2, "guidance_scale": 3.0, "clip_x0": True},
        }
        path = tmp_path / f"{name}.safetensors"
        save_checkpoint(
            randomize(TextUNet(cfg), seed),
            path,
            schedule=NoiseSchedule.linear(20),
            name=name,
            card=card,
        )
        paths.append(path)
    return paths


def _scored(row, prompted=True):
    """Every measure of a row states its n and an interval; FID and KID their floor at n."""
    for name in MEASURES + (PROMPTED if prompted else ()):
        assert row[name]["n"] == row["n"] and len(row[name]["interval"]) == 2, name
    assert row["fid"]["floor_at_n"]["n"] == row["n"] == row["kid"]["floor_at_n"]["n"]
    assert row["coverage"]["real_at_n"]["n"] == row["n"]
    return row


def test_with_sampling_changes_a_copy_of_the_card_only(text_ckpt_path):
    ckpt = load_checkpoint(text_ckpt_path[0])
    other = with_sampling(ckpt, {"guidance_scale": 5.0, "clip_x0": False})
    assert other.model is ckpt.model and ckpt.card["sampling"]["guidance_scale"] == 3.0
    assert sampling_of(other)["guidance_scale"] == 5.0 and not sampling_of(other)["clip_x0"]
    assert setting_label(
        {"guidance_scale": 8.0, "limit": "dynamic", "dynamic_threshold": 0.995}
    ) == ("w=8, dynamic, p=0.995")


def test_guidance_tradeoff_scores_every_scale_and_clipping_choice(text_ckpt_path):
    trade = guidance_tradeoff(
        str(text_ckpt_path[0]), (1.0, 3.0), clip_x0=(True, False), protocol=SMALL
    )
    assert [r["label"] for r in trade["rows"]] == [
        "w=1, clip_x0",
        "w=1, no clip_x0",
        "w=3, clip_x0",
        "w=3, no clip_x0",
    ]
    for row in trade["rows"]:
        _scored(row)
        assert row["sampling"]["steps"] == 2  # the card's
    assert trade["current_sampling"]["clip_x0"] is True
    assert set(trade["ranking"]) >= {"fid", "coverage", "prompted_digit_accuracy"}
    assert trade["recommended_default"]["label"] in [r["label"] for r in trade["rows"]]


def test_an_unconditional_checkpoint_sweeps_clipping_and_eta_without_prompts(
    tmp_path, make_tiny_unet
):
    path = tmp_path / "uncond.safetensors"
    card = {"conditioning": "none", "sampling": {"sampler": "ddim", "steps": 2, "eta": 0.0}}
    save_checkpoint(make_tiny_unet(), path, schedule=NoiseSchedule.linear(20), card=card)
    trade = guidance_tradeoff(
        str(path), (1.0,), clip_x0=(False, True), etas=(0.0, 1.0), protocol=SMALL
    )
    assert [r["label"] for r in trade["rows"]] == [
        "w=1, no clip_x0, eta=0",
        "w=1, clip_x0, eta=0",
        "w=1, no clip_x0, eta=1",
        "w=1, clip_x0, eta=1",
    ]
    assert trade["prompts"] == "none (unconditional)"
    assert all("clip_score" not in _scored(r, prompted=False) for r in trade["rows"])
    assert trade["rows"][1]["pixels"]["outside_unit_range"] == 0  # clipped at every step
    rule = trade["recommended_default"]["rule"]
    assert rule.startswith("FID ties the lowest") and "accuracy" not in rule  # no prompts


def test_the_same_prompts_and_seeds_give_every_setting_the_same_noise(text_ckpt_path):
    a = guidance_tradeoff(str(text_ckpt_path[0]), (3.0,), protocol=SMALL)["rows"][0]
    b = guidance_tradeoff(str(text_ckpt_path[0]), (3.0,), protocol=SMALL)["rows"][0]
    assert a["fid"] == b["fid"] and a["clip_score"] == b["clip_score"]


def test_encoder_vs_denoiser_compares_models_per_setting_and_recommends_each_default(
    text_ckpt_path,
):
    sizes = encoder_vs_denoiser(
        [str(p) for p in text_ckpt_path], guidance_scales=(1.0, 3.0), protocol=SMALL
    )
    assert [(r["checkpoint"], r["label"]) for r in sizes["rows"]] == [
        ("tiny-a", "w=1"),
        ("tiny-a", "w=3"),
        ("tiny-b", "w=1"),
        ("tiny-b", "w=3"),
    ]
    row = sizes["rows"][0]
    assert row["text_encoder"] == "transformer" and row["text_encoder_parameters"] > 0
    assert (
        row["denoiser_parameters"] + row["text_encoder_parameters"]
        == read_card(text_ckpt_path[0].with_suffix(".json"))["model"]["parameters"]
    )
    assert set(sizes["ranking"]) == {"w=1", "w=3"}
    assert set(sizes["ranking"]["w=3"]["fid"]["rank"]) == {"tiny-a", "tiny-b"}
    assert set(sizes["per_checkpoint"]) == {"tiny-a", "tiny-b"}
    assert "recommended_default" in sizes["per_checkpoint"]["tiny-b"]


def test_experiment_command_writes_json_with_its_command_and_saves_samples(
    text_ckpt_path, tmp_path, capsys
):
    out, saved = tmp_path / "t.json", tmp_path / "samples"
    argv = [
        "experiment",
        "guidance-tradeoff",
        "--checkpoints",
        str(text_ckpt_path[0]),
        "--guidance-scales",
        "2",
        "--clip-x0",
        "on",
        "off",
        "--num-samples",
        "8",
        "--steps",
        "1",
        "--resamples",
        "20",
        "--save-samples",
        str(saved),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["command"].startswith("python -m ddpm_tutorial experiment guidance-tradeoff")
    assert [r["sampling"]["clip_x0"] for r in result["rows"]] == [True, False]
    assert all(r["sampling"]["steps"] == 1 for r in result["rows"])
    assert np.load(saved / "tiny-a_w=2_no-clip_x0_steps=1.npy").shape == (8, 1, 28, 28)
    assert main(["experiment", "guidance-tradeoff", "--checkpoints", "a", "b"]) == 2
    assert "one checkpoint" in capsys.readouterr().err
    assert main(["experiment", "part4-comparison", "--num-samples", "5"]) == 2
    assert "more than k = 5" in capsys.readouterr().err


def test_part4_experiments_run_on_the_shipped_systems():
    table = part4_comparison(["mnist-sd", "mnist-unclip"], protocol=SMALL)
    assert [r["model"] for r in table["rows"]] == ["mnist-sd", "mnist-unclip"]
    unclip = _scored(table["rows"][1])
    assert set(unclip["parameters_by_part"]) == {"clip", "prior", "decoder", "upsampler"}
    assert unclip["parameters"] == sum(unclip["parameters_by_part"].values())
    assert set(table["ranking"]["fid"]["rank"]) == {"mnist-sd", "mnist-unclip"}
    thr = thresholding(
        guidance_scales=(8.0,),
        limits=("none", "static", "dynamic"),
        percentiles=(0.95, 0.995),
        protocol=SMALL,
    )
    by_label = {r["label"]: r for r in thr["rows"]}
    assert list(by_label) == [
        "w=8, none",
        "w=8, static",
        "w=8, dynamic, p=0.95",
        "w=8, dynamic, p=0.995",
    ]
    assert by_label["w=8, none"]["out_of_range"] > 0 == by_label["w=8, static"]["out_of_range"]
    assert by_label["w=8, dynamic, p=0.995"]["sampling"]["dynamic_threshold"] == 0.995
    assert "dynamic_threshold" not in by_label["w=8, static"]["sampling"]
    assert thr["percentiles"] == [0.95, 0.995] and "w=8" in thr["ranking_by_scale"]
    priors = unclip_priors(protocol=SMALL)
    assert [r["prior"] for r in priors["rows"]] == ["diffusion", "regression", "text"]
    # the diffusion route is the system at its card's defaults: the same images, the same FID
    assert priors["rows"][0]["fid"] == unclip["fid"]


def test_latent_savings_times_and_scores_the_same_samples():
    saved = latent_savings(batch_size=8, repeats=2, protocol=Protocol(num_samples=16, resamples=20))
    pixel, latent = saved["rows"]
    assert latent["numbers_per_example"] == 196 < pixel["numbers_per_example"]
    assert saved["samples_per_round"] == 8 and _scored(latent["quality"])["n"] == 16
    assert set(saved["quality_ranking"]["fid"]["rank"]) == {"mnist-text", "mnist-sd"}


def test_text_backbones_compares_a_text_unet_and_an_mmdit_per_setting(
    text_ckpt_path, tmp_path, randomize
):
    torch.manual_seed(2)
    cfg = TextDiTConfig(
        patch_size=7,
        hidden_dim=16,
        depth=1,
        num_heads=2,
        text_dim=16,
        text_layers=1,
        text_heads=2,
        vocabulary=caption_vocabulary(),
    )
    path = tmp_path / "tiny-mmdit.safetensors"
    card = {
        "conditioning": "text",
        "sampling": {"sampler": "euler", "steps": 2, "guidance_scale": 3.0},
    }
    save_checkpoint(randomize(TextDiT(cfg), 2), path, schedule=FlowMatching(), card=card)
    both = text_backbones(
        [str(text_ckpt_path[0]), str(path)], guidance_scales=(1.0, 3.0), protocol=SMALL
    )
    assert both["experiment"] == "text-backbones"
    assert [(r["checkpoint"], r["kind"], r["label"]) for r in both["rows"]] == [
        ("tiny-a", "text-unet", "w=1"),
        ("tiny-a", "text-unet", "w=3"),
        ("tiny-mmdit", "text-dit", "w=1"),
        ("tiny-mmdit", "text-dit", "w=3"),
    ]
    for row in both["rows"]:
        _scored(row)
    assert (
        both["rows"][2]["sampling"]["sampler"] == "euler"
    )  # each draws with its own card's sampler
    assert set(both["ranking"]["w=3"]["fid"]["rank"]) == {"tiny-a", "tiny-mmdit"}
    assert "recommended_default" in both["per_checkpoint"]["tiny-mmdit"]


def test_comparing_text_models_refuses_an_unconditional_checkpoint(tmp_path, make_tiny_unet):
    path = tmp_path / "uncond.safetensors"
    card = {"conditioning": "none", "sampling": {"sampler": "ddim", "steps": 2}}
    save_checkpoint(make_tiny_unet(), path, schedule=NoiseSchedule.linear(20), card=card)
    with pytest.raises(ValueError, match="'uncond' is not one"):
        text_backbones([str(path)], protocol=SMALL)
    with pytest.raises(ValueError, match="got none"):
        text_backbones([], protocol=SMALL)


def test_card_defaults_add_memorisation_and_the_first_fid_and_draw_unconditionally():
    table = card_defaults(["mnist-latent", "mnist-dalle"], protocol=SMALL)
    latent, dalle = table["rows"]
    _scored(latent, prompted=False)
    assert "clip_score" not in latent and latent["prompts"] == "none (unconditional)"
    assert _scored(dalle)["prompted_digit_accuracy"]["real"] > 0.9
    for row in (latent, dalle):
        assert row["memorisation"]["num_samples"] == 8
        assert row["fid_mnist-features"]["features"] == "mnist-features"


def test_the_shipped_experiments_record_their_commands_n_floors_and_intervals():
    names = ("guidance-tradeoff", "encoder-vs-denoiser", "part4-comparison", "thresholding")
    for name in (*names, "unclip-priors", "card-defaults"):
        result = load_experiment(name)
        assert result["command"].startswith(f"python -m ddpm_tutorial experiment {name}")
        for row in result["rows"]:
            assert _scored(row, prompted=row.get("prompts") != "none (unconditional)")["n"] >= 500
    for name in ("guidance-tradeoff", "thresholding"):
        assert load_experiment(name)["recommended_default"]["sampling"]
    thr = load_experiment("thresholding")
    assert {0.95, 0.995} <= set(thr["percentiles"])
    rows = load_experiment("part4-comparison")["rows"]
    assert {r["model"] for r in rows} == {"mnist-text", "mnist-sd", "mnist-unclip", "mnist-imagen"}
    saved = load_experiment("latent-savings")
    assert saved["train_step_speedup"] > 1 and saved["rows"][0]["quality"]["n"] >= 300
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


def test_the_shipped_text_backbone_table_backs_both_cards():
    table = load_experiment("text-backbones")
    assert table["command"].startswith("python -m ddpm_tutorial experiment text-backbones")
    assert all(_scored(r)["n"] == 1000 for r in table["rows"])
    labels = list(dict.fromkeys(r["label"] for r in table["rows"]))
    for label in labels:  # both networks at every guidance scale, from the same prompts
        assert {r["checkpoint"] for r in table["rows"] if r["label"] == label} == {
            "mnist-flow-text",
            "mnist-mmdit",
        }
    kinds = {r["checkpoint"]: r["kind"] for r in table["rows"]}
    assert kinds == {"mnist-flow-text": "text-unet", "mnist-mmdit": "text-dit"}
    for name, per in table["per_checkpoint"].items():
        card = load_checkpoint(name).card["sampling"]
        chosen = per["recommended_default"]["sampling"]
        assert (card["sampler"], card["steps"], card["guidance_scale"]) == (
            chosen["sampler"],
            chosen["steps"],
            chosen["guidance_scale"],
        )
        assert "data/experiments/text-backbones.json" in card["chosen_by"]
